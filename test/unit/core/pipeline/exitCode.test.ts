// A program's exit code is part of what happened: COMPLETE and ERROR carry it (shell commands, `aios run`).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../../src/core/system/sampler';
import { CommandFailure, type TelemetryEvent } from '../../../../src/core/types';

describe('exit codes in telemetry', () => {
  it('COMPLETE carries a result exitCode, ERROR the failure data exitCode; other results carry none', async () => {
    const m = createMiddleware({ sampler: new StaticSampler() });
    const events: TelemetryEvent[] = [];
    m.telemetry.onEvent((e) => events.push(e));
    const ok = await m.execute({ commandType: 'PROG_OK' }, () => ({ exitCode: 0, stdout: '' }));
    const failed = await m.execute({ commandType: 'PROG_FAIL' }, () => {
      throw new CommandFailure('exit_code', "'prog' exited with code 3", { exitCode: 3 });
    });
    const plain = await m.execute({ commandType: 'PLAIN' }, () => ({ answer: 42 }));
    const end = (id: string) => events.find((e) => e.commandId === id && (e.eventType === 'COMPLETE' || e.eventType === 'ERROR'));
    assert.equal(end(ok.commandId)?.metadata?.exitCode, 0);
    assert.equal(end(failed.commandId)?.metadata?.exitCode, 3);
    assert.equal(end(failed.commandId)?.metadata?.code, 'exit_code');
    assert.equal(end(plain.commandId)?.metadata?.exitCode, undefined);
    await m.close();
  });
});
