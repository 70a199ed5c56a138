import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { describeNotFound, runShellCommand, shellExecutor } from '../../../../src/core/execution/executors';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../../src/core/system/sampler';
import type { ExecutorContext } from '../../../../src/core/types';
import { tempDir } from '../helpers';

const node = process.execPath;

function context(): ExecutorContext & { cancel(): void } {
  const listeners: ((r: unknown) => void)[] = [];
  let cancelled = false;
  return {
    commandId: 't',
    get signal(): AbortSignal {
      throw new Error('the shell executor must not make an AbortSignal per command');
    },
    get cancelled() {
      return cancelled;
    },
    onCancel(l) {
      // As the pipeline's flight does: at once when already cancelled.
      if (cancelled) {
        l(new Error('x'));
        return () => undefined;
      }
      listeners.push(l);
      return () => listeners.splice(listeners.indexOf(l), 1);
    },
    waiting: () => () => undefined,
    cancel() {
      cancelled = true;
      for (const l of listeners.splice(0)) l(new Error('x'));
    },
  };
}

describe('the shell executor', () => {
  it('streams output live and keeps it whole under the cap', async () => {
    const seen: string[] = [];
    const r = await runShellCommand({ file: node, args: [] }, ['-e', 'process.stdout.write("héllo\\n"); process.stderr.write("warn\\n")'], context(), {
      onOutput: (text, stream) => seen.push(`${stream}:${text}`),
    });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'héllo\n');
    assert.equal(r.stderr, 'warn\n');
    assert.equal(r.truncated, undefined);
    assert.deepEqual(seen.sort(), ['stderr:warn\n', 'stdout:héllo\n']);
  });

  it('cuts output beyond the cap with a note, and the program runs to its end', async () => {
    let streamed = 0;
    const r = await runShellCommand(
      { file: node, maxOutputBytes: 10_000 },
      ['-e', 'const s = "x".repeat(1000); for (let i = 0; i < 1000; i++) process.stdout.write(s); process.stdout.write("END")'],
      context(),
      { onOutput: (t) => (streamed += t.length) },
    );
    assert.equal(r.exitCode, 0);
    assert.equal(r.truncated, true);
    assert.equal(streamed, 1_000_003, 'the live output got all of it');
    assert.ok(r.stdout.startsWith('x'.repeat(10_000)));
    assert.match(r.stdout, /\[AIOS: output cut at 9\.8 KiB; 966\.8 KiB more was not kept\]$/);
    assert.ok(r.stdout.length < 10_200);
  });

  it('a program not found names it and where it was looked for', async () => {
    const ctx = context();
    await assert.rejects(runShellCommand({ file: 'aios-no-such-program' }, [], ctx), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'not_found');
      assert.match(e.message, /'aios-no-such-program' was not found on PATH/);
      assert.ok(e.message.includes((process.env.PATH ?? '').split(':')[0]), e.message);
      return true;
    });
    const dir = tempDir();
    await assert.rejects(runShellCommand({ file: './missing.sh', cwd: dir }, [], ctx), (e: Error) => e.message.includes(join(dir, 'missing.sh')));
    await assert.rejects(runShellCommand({ file: node, cwd: join(dir, 'nope') }, [], ctx), /working folder .* does not exist/);
    assert.match(describeNotFound('npm run build', undefined, undefined), /put its arguments in 'args'/);
    assert.match(describeNotFound('tool', undefined, { PATH: '/secret/bin' }), /PATH set by its command's env \(not shown\)/);
    assert.doesNotMatch(describeNotFound('tool', undefined, { PATH: '/secret/bin' }), /secret/);
  });

  it('cancel through onCancel ends the program', async () => {
    const ctx = context();
    const running = runShellCommand({ file: node }, ['-e', 'setInterval(() => {}, 1000)'], ctx);
    setTimeout(() => ctx.cancel(), 100);
    await assert.rejects(running, (e: Error & { code?: string }) => e.code === 'cancelled');
  });

  it('records the exit code and duration through the pipeline', async () => {
    const m = createMiddleware({ sampler: new StaticSampler() });
    const ex = shellExecutor({ FAIL: { file: node, args: ['-e', 'process.stderr.write("bad thing"); process.exit(4)'] } });
    const r = await m.execute({ commandType: 'FAIL' }, ex);
    assert.equal(r.error?.code, 'exit_code');
    assert.match(r.error.message, /exited with code 4: bad thing/);
    const end = m.telemetry.recentEvents().at(-1)!;
    assert.equal(end.eventType, 'ERROR');
    assert.ok(end.durationMs! > 0);
    assert.match(String(end.metadata?.message), /code 4/);
    await m.close();
  });
});
