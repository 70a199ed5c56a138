// The reliability tier's closing table: each test records the property it proved, what it tried (counts)
// and what held; test/run.mjs prints the rows after the tier. One JSON line per row, appended to the file
// named by AIOS_RELIABILITY_TABLE (set by test/run.mjs).
import { appendFileSync } from 'node:fs';

export interface Row {
  property: string;
  tried: string;
  held: string;
}

export function record(row: Row): void {
  const file = process.env.AIOS_RELIABILITY_TABLE;
  if (file) appendFileSync(file, `${JSON.stringify(row)}\n`);
}
