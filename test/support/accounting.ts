// Accounting helpers for the overload and reliability tests: a real GC for heap figures, and what the JSONL
// event files on disk say of each command id (how many STARTs, which terminal events).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose_gc');
const collect = runInNewContext('gc') as () => void;

/** Heap in use after two full collections, in MB. */
export function heapAfterGcMB(): number {
  collect();
  collect();
  return process.memoryUsage().heapUsed / 1048576;
}

export interface DiskCommand {
  starts: number;
  /** COMPLETE, ERROR and CANCEL events, in file order. */
  terminals: string[];
  /** metadata.code of the terminal events (ERROR and CANCEL). */
  codes: string[];
}

export interface DiskAccount {
  byId: Map<string, DiskCommand>;
  lines: number;
  /** Lines that are not JSON events (a torn last line). */
  torn: number;
  byEventType: Record<string, number>;
}

/** Reads every events-*.jsonl file in `dir`. */
export function readDisk(dir: string): DiskAccount {
  const byId = new Map<string, DiskCommand>();
  const byEventType: Record<string, number> = {};
  let lines = 0;
  let torn = 0;
  for (const name of readdirSync(dir).sort()) {
    if (!/^events-.*\.jsonl$/.test(name)) continue;
    const text = readFileSync(join(dir, name), 'utf8');
    for (const line of text.split('\n')) {
      if (line === '') continue;
      lines++;
      let e: { eventType?: string; commandId?: string; metadata?: { code?: string } };
      try {
        e = JSON.parse(line) as typeof e;
      } catch {
        torn++;
        continue;
      }
      if (typeof e.eventType !== 'string' || typeof e.commandId !== 'string') {
        torn++;
        continue;
      }
      byEventType[e.eventType] = (byEventType[e.eventType] ?? 0) + 1;
      let c = byId.get(e.commandId);
      if (!c) byId.set(e.commandId, (c = { starts: 0, terminals: [], codes: [] }));
      if (e.eventType === 'START') c.starts++;
      else if (e.eventType === 'COMPLETE' || e.eventType === 'ERROR' || e.eventType === 'CANCEL') {
        c.terminals.push(e.eventType);
        if (e.metadata?.code !== undefined) c.codes.push(e.metadata.code);
      }
    }
  }
  return { byId, lines, torn, byEventType };
}
