// Handlers follow the file on disk: a handlers.py written by something other than the editor (a shell, git pull)
// reloads by itself, a model kept in ctx.models survives that reload while its loader is unchanged, and a save in
// the editor is one reload, not one for the save and one more for the file watcher.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { healthyAios, waitUntil, type AiosApi } from './util';

const aiosDir = () => join(process.env.AIOS_TEST_WORKSPACE!, '.aios');
const handlersFile = () => join(aiosDir(), 'handlers.py');

/** A command type whose model comes from ctx.models; it answers how many times its loader ran (counted in a file,
 *  which outlives the module's reloads) and which version of the module answered. */
const probe = (version: number, weights = '[1, 2, 3]') => `

_PROBE_VERSION = ${version}


def _load_probe_model(counter):
    with open(counter, "a") as f:
        f.write("x\\n")
    return {"weights": ${weights}}


@command("MODEL_PROBE", description="ctx.models: load a model once; say how many times the loader ran.")
def _model_probe(params, ctx):
    # What selects the model is in its name: the loader's fingerprint is its code, not the values it closes over.
    model = ctx.models.get_or_load("probe:" + params["counter"], lambda: _load_probe_model(params["counter"]))
    with open(params["counter"]) as f:
        loads = len(f.read().split())
    return {"loads": loads, "version": _PROBE_VERSION, "weights": model["weights"]}
`;

interface ProbeAnswer {
  loads: number;
  version: number;
  weights: number[];
}

describe('handlers follow the file on disk', function () {
  this.timeout(120_000);
  let api: AiosApi;
  let original: string;
  let dir: string;
  const infos: string[] = [];
  let restoreLog: () => void;

  before(async () => {
    api = await healthyAios();
    original = readFileSync(handlersFile(), 'utf8');
    dir = mkdtempSync(join(tmpdir(), 'aios-models-'));
    const log = api.context.log;
    const info = log.info.bind(log);
    log.info = (message: string | Error, ...args: unknown[]) => {
      infos.push(String(message));
      info(message as string, ...args);
    };
    restoreLog = () => (log.info = info);
  });

  after(async () => {
    restoreLog();
    writeFileSync(handlersFile(), original);
    // The watcher reloads it too: later suites find the demo's handlers, without the probe.
    await waitUntil(async () => !(await api.context.supervisor.checkHealth())?.commands.includes('MODEL_PROBE'), 30_000, 'the demo handlers back');
    rmSync(dir, { recursive: true, force: true });
  });

  const probeOnce = async (counter: string): Promise<ProbeAnswer> => {
    const r = await api.execute({ commandType: 'MODEL_PROBE', parameters: { counter } });
    assert.equal(r.success, true, JSON.stringify(r.error));
    return r.result as ProbeAnswer;
  };
  /** Waits until the module of `version` answers: the reload the write caused has happened. */
  const probeVersion = (counter: string, version: number) =>
    waitUntil(
      async () => {
        const r = await api.execute({ commandType: 'MODEL_PROBE', parameters: { counter } });
        return r.success && (r.result as ProbeAnswer).version === version ? (r.result as ProbeAnswer) : undefined;
      },
      30_000,
      `MODEL_PROBE from version ${version} of handlers.py`,
    );

  it('a handlers.py written on disk, not in the editor, reloads by itself: its new command type answers', async () => {
    const counter = join(dir, 'written.txt');
    assert.ok(!vscode.workspace.textDocuments.some((d) => d.uri.fsPath === handlersFile() && d.isDirty), 'nothing unsaved in an editor');
    await writeFile(handlersFile(), original + probe(1));
    // No RELOAD_CONFIG from here and no save in the editor: the file watcher sees the write.
    await waitUntil(async () => (await api.context.supervisor.checkHealth())?.commands.includes('MODEL_PROBE'), 30_000, 'MODEL_PROBE registered');
    const answer = await probeOnce(counter);
    assert.deepEqual(answer, { loads: 1, version: 1, weights: [1, 2, 3] });
    assert.ok(
      infos.some((l) => /Reloaded the service's config and handlers: handlers\.py changed on disk/.test(l)),
      infos.join('\n'),
    );
  });

  it('a model loaded by ctx.models.get_or_load survives a reload while its loader is unchanged, and loads again when it changed', async () => {
    const counter = join(dir, 'kept.txt');
    // Start from no models (the previous test's is there), so the counts below are this test's.
    assert.equal((await api.context.control({ operation: 'FLUSH_CACHE', parameters: { cache_type: 'model_cache' } })).success, true);
    await writeFile(handlersFile(), original + probe(2));
    assert.equal((await probeVersion(counter, 2)).loads, 1);
    // The module changes around the loader: reloaded (version 3 answers), the model kept.
    await writeFile(handlersFile(), `${original}\n# an edit above the loader\n${probe(3)}`);
    const kept = await probeVersion(counter, 3);
    assert.equal(kept.loads, 1, 'the loader did not run again');
    assert.equal((await api.context.supervisor.checkHealth())?.cache.models.entries, 1);
    // The loader's own code changes: it runs again.
    await writeFile(handlersFile(), original + probe(4, '[4, 5, 6, 7]'));
    const changed = await probeVersion(counter, 4);
    assert.deepEqual(changed, { loads: 2, version: 4, weights: [4, 5, 6, 7] });
    // FLUSH_CACHE model_cache empties ctx.models and counts it.
    const flush = await api.context.control({ operation: 'FLUSH_CACHE', parameters: { cache_type: 'model_cache' } });
    assert.equal(flush.success, true, JSON.stringify(flush.error));
    const detail = (flush.result as { detail: { flushed: { model_cache: number }; models: { service: number } } }).detail;
    assert.equal(detail.models.service, 1);
    assert.ok(detail.flushed.model_cache >= 1, JSON.stringify(detail));
    assert.equal((await probeOnce(counter)).loads, 3, 'flushed: loaded again');
  });

  it('a save in the editor is one reload, not one for the save and one more for the file watcher', async () => {
    const doc = await vscode.workspace.openTextDocument(handlersFile());
    const editor = await vscode.window.showTextDocument(doc);
    const sibling = join(aiosDir(), 'aios_probe_sibling.py');
    const from = infos.length;
    try {
      await editor.edit((e) => e.insert(new vscode.Position(doc.lineCount, 0), '\n# saved in the editor\n'));
      await doc.save();
      await waitUntil(() => infos.slice(from).some((l) => /Reloaded .*handlers\.py/.test(l)), 30_000, 'the reload after the save');
      // Then a write the watcher reports after the save's own event (its events come in order): once its reload is
      // done, the save's event has been seen too.
      await writeFile(sibling, 'X = 1\n');
      await waitUntil(() => infos.slice(from).some((l) => /Reloaded .*aios_probe_sibling\.py/.test(l)), 30_000, 'the reload after the sibling');
      const reloads = infos.slice(from).filter((l) => l.startsWith('Reloaded '));
      assert.equal(reloads.filter((l) => l.includes('handlers.py')).length, 1, reloads.join('\n'));
      assert.ok(!reloads.some((l) => l.includes('handlers.py') && l.includes('aios_probe_sibling.py')), reloads.join('\n'));
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
      await unlink(sibling).catch(() => {});
    }
  });
});
