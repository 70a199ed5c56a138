/** Rounded to 3 decimals: milliseconds to the microsecond, ratios to 0.1 %, in reports and events. */
export const round3 = (n: number): number => Math.round(n * 1000) / 1000;
