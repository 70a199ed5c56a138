import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../../src/core/system/sampler';
import { Telemetry } from '../../../../src/core/telemetry/telemetry';
import { programOf, TerminalRecorder } from '../../../../src/core/execution/terminalCommands';

describe('terminal commands', () => {
  it('finds the program of a command line', () => {
    assert.equal(programOf('git status'), 'git');
    assert.equal(programOf('FOO=1 BAR=2 sudo -E /usr/bin/make -j4'), 'make');
    assert.equal(programOf('"C:\\Program Files\\nodejs\\node.exe" x.js'), 'node');
    assert.equal(programOf('./build.sh --fast'), 'build.sh');
    assert.equal(programOf('   '), 'unknown');
    assert.equal(programOf('$(evil)'), 'evil_');
  });

  it('records START then COMPLETE or ERROR with exit codes; the command line only when allowed', async () => {
    const m = createMiddleware({ sampler: new StaticSampler(), config: { security: { denyPatterns: ['*DROP*'], allowPatterns: [] } } });
    assert.ok(m.telemetry instanceof Telemetry);
    let keepLines = false;
    const rec = new TerminalRecorder({
      emit: (...a) => (m.telemetry as Telemetry).emit(...a),
      policy: () => m.config.security,
      recordCommandLines: () => keepLines,
    });
    const ok = rec.start('git status --short', { terminal: 'bash' });
    assert.equal(ok.warning, undefined);
    ok.end(0);
    keepLines = true;
    const bad = rec.start('psql -c "drop table users"');
    assert.match(bad.warning!, /deny pattern '\*DROP\*'/);
    assert.match(bad.warning!, /cannot stop/);
    bad.end(3);
    const unknown = rec.start('make');
    unknown.end(undefined);
    unknown.end(0); // a second end is ignored
    const events = m.telemetry.recentEvents();
    assert.deepEqual(
      events.map((e) => `${e.eventType} ${e.commandType}`),
      ['START TERMINAL:git', 'COMPLETE TERMINAL:git', 'START TERMINAL:psql', 'ERROR TERMINAL:psql', 'START TERMINAL:make', 'ERROR TERMINAL:make'],
    );
    assert.equal(events[0].metadata?.commandLine, undefined, 'no command line unless recordCommandLines');
    assert.equal(events[2].metadata?.commandLine, 'psql -c "drop table users"');
    assert.equal(events[3].metadata?.exitCode, 3);
    assert.equal(events[5].metadata?.code, 'exit_unknown');
    assert.equal(typeof events[1].durationMs, 'number');
    assert.equal(m.admission.active, 0, 'terminal commands take no admission slot');
    const s = m.telemetry.byType()['TERMINAL:git'];
    assert.equal(s.successCount, 1);
    assert.equal(rec.openCount, 0);
    await m.close();
  });

  it('allow patterns apply to terminal command types too', () => {
    const rec = new TerminalRecorder({
      emit: () => undefined,
      policy: () => ({ denyPatterns: [], allowPatterns: ['TERMINAL:git'] }),
      recordCommandLines: () => false,
    });
    assert.equal(rec.check('git log'), undefined);
    assert.match(rec.check('curl x')!, /none of the allow patterns/);
  });
});
