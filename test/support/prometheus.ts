// Debian's real Prometheus on 127.0.0.1 for tests: a temp folder for its config and storage, a free port,
// started and stopped by the test; and its promtool, the linter of a scrape. Used by the receivers tier and
// the in-host suite. Installing them (one Debian package) is the test bootstrap's job
// (ensureDebianPackages(['prometheus']) when root).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net';

const PROMETHEUS = process.env.AIOS_PROMETHEUS ?? '/usr/bin/prometheus';
const PROMTOOL = process.env.AIOS_PROMTOOL ?? '/usr/bin/promtool';

/** `promtool check metrics` on a scrape's text: its exit code and everything it printed (each problem found). */
export function promtoolCheckMetrics(text: string): { code: number | null; output: string } {
  if (!existsSync(PROMTOOL))
    throw new Error(`promtool not found at ${PROMTOOL}: run the tests as root (the bootstrap installs Debian's prometheus), or set AIOS_PROMTOOL`);
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

interface PromVector {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

export class Prometheus {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'aios-prometheus-'));
  private stderr = '';
  port = 0;

  async start(target: string): Promise<void> {
    if (!existsSync(PROMETHEUS))
      throw new Error(`Prometheus not found at ${PROMETHEUS}: run the tests as root (the bootstrap installs Debian's prometheus), or set AIOS_PROMETHEUS`);
    this.port = await freePort();
    const config = join(this.dir, 'prometheus.yml');
    writeFileSync(
      config,
      `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: aios\n    static_configs:\n      - targets: ['${target}']\n`,
    );
    this.child = spawn(
      PROMETHEUS,
      [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${this.port}`, `--storage.tsdb.path=${join(this.dir, 'data')}`, '--log.level=warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-4000)));
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ok = await fetch(`${this.url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (this.child.exitCode !== null || Date.now() > deadline) throw new Error(`prometheus did not become ready: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async query(promql: string): Promise<PromVector['data']['result']> {
    const r = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await r.json()) as PromVector;
    assert.equal(body.status, 'success', JSON.stringify(body));
    return body.data.result;
  }

  async value(promql: string): Promise<number | undefined> {
    const result = await this.query(promql);
    return result.length === 0 ? undefined : Number(result[0].value[1]);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
