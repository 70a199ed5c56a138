// `aios run -- true` end to end: the bundled CLI (dist/cli/aios.js) started with this Node, connecting to a
// real window server in front of a real middleware (a free slot: no admission wait), running `true` in its
// own stdio and reporting back. Against, in the same run and interleaved, `true` alone and `node -e 0` with
// the same Node. Figures (p50 of 50 runs each):
// - cli.run-true.p50: the whole `aios run -- true`.
// - cli.overhead-over-node.p50: aios run -- true, less node -e 0, less true: what aios adds to Node's own
//   start-up and the program's; the goal is <= 10 ms (the peer).
// - cli.overhead-over-node.cpu (Linux): the same difference in CPU time (user + system of the reaped
//   children, /proc), mean per run: steadier than wall time on a loaded machine, where a wait for a core
//   lands in every hop (connect, "go", exit, result).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { installCli } from '../src/cli/install';
import { CliServer, newSecret, socketLocation } from '../src/cli/server';
import { createMiddleware } from '../src/core/pipeline';
import { StaticSampler } from '../src/core';
import { log, lowerIsBetter, median, procCpuMs, round, type Bench, type BenchResult } from './types';

const BUILT_CLI = resolve(__dirname, '..', '..', 'dist', 'cli', 'aios.js');
const GOAL_MS = 10;

function timed(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const c = spawn(file, args, { env, stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolvePromise(performance.now() - t0) : reject(new Error(`${file} ${args.join(' ')} exited with ${code}`))));
  });
}

export const cliBench: Bench = {
  name: 'cli',
  async run({ quick }): Promise<BenchResult[]> {
    if (process.platform === 'win32') {
      log('cli: skipped on Windows (no `true`; the figures are for POSIX shells)');
      return [];
    }
    const n = quick ? 15 : 50;
    const dir = mkdtempSync(join(tmpdir(), 'aios-bench-cli-'));
    const mw = createMiddleware({ sampler: new StaticSampler({ cpuPercent: 10, sampledAt: Date.now() }), config: { maxConcurrency: 64, baseDelayMs: 0 } });
    // Installed as the extension installs it: in a folder with a package.json of its own.
    const CLI_MAIN = installCli(join(dir, 'install'), BUILT_CLI).main;
    const secret = newSecret();
    const server = await CliServer.listen({
      host: {
        execute: (request, executor, options) => mw.execute(request, executor, options),
        control: () => Promise.reject(new Error('not in this bench')),
        status: () => ({ admission: mw.admission, service: { status: 'healthy' }, system: mw.sampler.latest() }),
        query: (level) => mw.telemetry.query(level),
        recentEvents: () => mw.telemetry.recentEvents(),
        onEvent: (l) => mw.telemetry.onEvent(l),
      },
      path: socketLocation({ baseDir: dir }).path,
      secret,
    });
    const env = { ...process.env, AIOS_CLI_SOCKET: server.path, AIOS_CLI_SECRET: secret };
    const aios: number[] = [];
    let cpuPerRun: { aios: number; node: number; bare: number } | undefined;
    const node: number[] = [];
    const bare: number[] = [];
    try {
      // Warm the file cache once each, then interleave so drift hits all three alike.
      await timed(process.execPath, [CLI_MAIN, 'run', '--', 'true'], env);
      await timed(process.execPath, ['-e', '0'], env);
      const cpu = { aios: 0, node: 0, bare: 0 };
      const cpuOf = async (key: keyof typeof cpu, run: () => Promise<number>, into: number[]) => {
        const before = procCpuMs('self', 'children');
        into.push(await run());
        const after = procCpuMs('self', 'children');
        if (before !== undefined && after !== undefined) cpu[key] += after - before;
      };
      for (let i = 0; i < n; i++) {
        await cpuOf('aios', () => timed(process.execPath, [CLI_MAIN, 'run', '--', 'true'], env), aios);
        await cpuOf('node', () => timed(process.execPath, ['-e', '0'], env), node);
        await cpuOf('bare', () => timed('true', [], env), bare);
      }
      cpuPerRun = { aios: cpu.aios / n, node: cpu.node / n, bare: cpu.bare / n };
    } finally {
      await server.close();
      await mw.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const p50 = { aios: median(aios), node: median(node), bare: median(bare) };
    const overhead = p50.aios - p50.node - p50.bare;
    log(`cli: aios run -- true ${round(p50.aios)} ms, node -e 0 ${round(p50.node)} ms, true ${round(p50.bare)} ms (p50 of ${n})`);
    const results = [
      lowerIsBetter('cli.run-true.p50', p50.aios, 'ms', 'node -e 0 + true, p50', p50.node + p50.bare),
      lowerIsBetter('cli.overhead-over-node.p50', Math.max(overhead, 0.001), 'ms', `goal ${GOAL_MS} ms`, GOAL_MS),
    ];
    if (process.platform === 'linux' && cpuPerRun) {
      const cpuOverhead = cpuPerRun.aios - cpuPerRun.node - cpuPerRun.bare;
      log(`cli: CPU per run: aios run -- true ${round(cpuPerRun.aios)} ms, node -e 0 ${round(cpuPerRun.node)} ms, true ${round(cpuPerRun.bare)} ms`);
      results.push(lowerIsBetter('cli.overhead-over-node.cpu', Math.max(cpuOverhead, 0.001), 'ms', `goal ${GOAL_MS} ms`, GOAL_MS));
    }
    return results;
  },
};
