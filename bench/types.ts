// The bench harness contract: a bench yields results; bench/index.ts prints one JSON object per line.

export interface BenchResult {
  bench: string;
  value: number;
  unit: 'ns' | 'us' | 'ms' | 'ops/s' | 'MB' | '%' | 'slots';
  /** A peer or floor measured in the same run, and how many times better ours is (> 1 = ahead). */
  peer?: string;
  peerValue?: number;
  ratio?: number;
}

export interface BenchOptions {
  quick: boolean;
}

export interface Bench {
  name: string;
  run(opts: BenchOptions): AsyncIterable<BenchResult> | Promise<BenchResult[]>;
}

import { readFileSync } from 'node:fs';

/** CPU ms of a process from /proc/<pid>/stat: its own (utime + stime) or its reaped children's (cutime +
 *  cstime). Linux only: undefined elsewhere. */
export function procCpuMs(pid: number | 'self', whose: 'own' | 'children'): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // the name in () may hold anything
    const i = whose === 'own' ? 11 : 13;
    return ((Number(fields[i]) + Number(fields[i + 1])) * 1000) / 100; // USER_HZ = 100
  } catch {
    return undefined;
  }
}

/** Logs go to stderr: stdout carries results only. */
export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export function heapMB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1048576;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const round = (n: number, digits = 3): number => Number(n.toPrecision(digits));

/** For throughput-like figures (higher is better). */
export function higherIsBetter(bench: string, value: number, unit: BenchResult['unit'], peer: string, peerValue: number): BenchResult {
  return { bench, value: round(value), unit, peer, peerValue: round(peerValue), ratio: round(value / peerValue) };
}

/** For cost-like figures (lower is better). */
export function lowerIsBetter(bench: string, value: number, unit: BenchResult['unit'], peer: string, peerValue: number): BenchResult {
  return { bench, value: round(value), unit, peer, peerValue: round(peerValue), ratio: round(peerValue / value) };
}
