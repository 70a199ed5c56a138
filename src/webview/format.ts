// How numbers read in the panel. Pure, so the counters' text is unit-tested and identical in every chart.

// Made when first used: the first Intl formatter loads locale data (~10 ms), which the extension's
// activation must not pay before its first paint (the tree and the status bar share these).
let integerFormat: Intl.NumberFormat | undefined;
let oneDecimalFormat: Intl.NumberFormat | undefined;
const integer = { format: (n: number) => (integerFormat ??= new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })).format(n) };
const oneDecimal = { format: (n: number) => (oneDecimalFormat ??= new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 })).format(n) };

export function formatCount(n: number): string {
  return integer.format(n);
}

/** 0.4 ms, 12.3 ms, 850 ms, 1.2 s, 2 min 5 s */
export function formatMs(ms: number): string {
  if (ms < 100) return `${oneDecimal.format(ms)} ms`;
  if (ms < 1000) return `${integer.format(ms)} ms`;
  if (ms < 60_000) return `${oneDecimal.format(ms / 1000)} s`;
  return formatDuration(ms / 1000);
}

/** A 0..1 ratio as a percentage: 0.9876 → "98.8 %". */
export function formatRatio(r: number): string {
  return formatPercent(r * 100);
}

export function formatPercent(p: number): string {
  return `${oneDecimal.format(p)} %`;
}

export function formatRate(perSecond: number): string {
  return `${perSecond >= 100 ? integer.format(perSecond) : oneDecimal.format(perSecond)}/s`;
}

/** Seconds as "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
export function formatDuration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Compact axis labels: 950, 1.2k, 3.4M. */
export function formatAxis(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${oneDecimal.format(n / 1e6)}M`;
  if (a >= 1e3) return `${oneDecimal.format(n / 1e3)}k`;
  return oneDecimal.format(n);
}

/** Local wall-clock time on a 24-hour clock ("14:05:30"), the same in axes, legends, table and footer. */
export function formatClock(epochMs: number, seconds = true): string {
  return new Date(epochMs).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', ...(seconds ? { second: '2-digit' } : {}) });
}
