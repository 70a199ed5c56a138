// Reads the host's own record of an extension's activation, three ways that work in code-server 4.139:
// - "Developer: Show Running Extensions" (workbench.action.showRuntimeExtensions), read from the screen: one
//   figure per extension, "Activation: N ms" = code loading + activate call (the extension service's
//   activationTimes);
// - "Developer: Startup Performance" (perfview.show), a text document (scheme `perf`) whose table "Extension
//   Activation Stats" gives the parts: Load Code, Call Activate, Finish Activate (ms), the event and who caused it;
// - the extension host's performance marks (code/extHost/willLoadExtensionCode/<id>, didLoadExtensionCode,
//   willActivateExtension, didActivateExtension: wall-clock ms), kept by VS Code's `vs/base/common/performance`
//   on `globalThis.MonacoPerformanceMarks` in the extension host. The Startup Performance document lists the
//   extension host's marks too, but only those sent at its start, before an onStartupFinished extension
//   activates; so they are read in the extension host itself. Not a public API: when it is missing, the
//   timeline is left out and the figures above stand.
import * as vscode from 'vscode';
import { evaluate, waitFor } from '../integration/ui';
import { waitUntil } from '../integration/util';

export interface ActivationTimes {
  /** The event that activated it (e.g. onStartupFinished) and whether it was an eager (startup) activation. */
  activationEvent: string;
  startup: boolean;
  codeLoadingMs: number;
  activateCallMs: number;
  /** From activate()'s return until the promise it returned resolved. */
  activateResolvedMs: number;
}

/** The "Developer: Startup Performance" document (its text), once it has its Extension Activation Stats. */
export async function startupPerformanceDocument(): Promise<string> {
  await vscode.commands.executeCommand('perfview.show');
  const doc = await waitUntil(
    () => vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'perf' && d.getText().includes('Extension Activation Stats')),
    60_000,
    'the Startup Performance document (perfview.show) with its Extension Activation Stats',
  );
  return doc.getText();
}

/** The "Extension Activation Stats" row of `extensionId` in the Startup Performance document `text`. */
export function activationRow(text: string, extensionId: string): ActivationTimes {
  const lines = text.slice(text.indexOf('Extension Activation Stats')).split('\n');
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((c) => c.trim());
  const header = cells(lines.find((l) => l.includes('Load Code')) ?? '');
  const row = lines.map(cells).find((c) => c[0] === extensionId);
  if (!row) throw new Error(`${extensionId} has no row in the Startup Performance document's Extension Activation Stats`);
  const column = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`no "${name}" column in Extension Activation Stats (columns: ${header.join(', ')})`);
    return row[i];
  };
  const ms = (name: string) => {
    const v = Number(column(name));
    if (!Number.isFinite(v) || v < 0) throw new Error(`"${name}" of ${extensionId} is not a duration: ${column(name)}`);
    return v;
  };
  return {
    activationEvent: column('Event'),
    startup: column('Eager') === 'true',
    codeLoadingMs: ms('Load Code'),
    activateCallMs: ms('Call Activate'),
    activateResolvedMs: ms('Finish Activate'),
  };
}

/** The figure "Developer: Show Running Extensions" shows for the extension named `displayName`, in ms. */
export async function runningExtensionsFigure(displayName: string): Promise<{ ms: number; text: string }> {
  await vscode.commands.executeCommand('workbench.action.showRuntimeExtensions');
  const FIND = `const row = [...document.querySelectorAll('.runtime-extensions-editor .extension')]
       .find((r) => r.querySelector('.name')?.textContent === arg);`;
  await waitFor(`return document.querySelector('.runtime-extensions-editor .extension') ? true : null;`, undefined, 30_000);
  // The list is sorted slowest first and renders only the rows in view: a fast activation sits further down,
  // so it is walked down (the list has the focus, as after the command from the palette) until the row shows.
  for (let down = 0; down < 100 && !(await evaluate<boolean>(`${FIND} return row !== undefined;`, displayName)); down++) {
    await vscode.commands.executeCommand('list.focusDown');
  }
  const text = await waitFor<string>(
    `${FIND}
     const time = row?.querySelector('.activation-time')?.textContent ?? '';
     return /\\d+\\s*ms/.test(time) ? time : null;`,
    displayName,
    30_000,
  );
  return { ms: Number(/(\d+)\s*ms/.exec(text)![1]), text };
}

/** The extension host's activation marks for `extensionId` (wall-clock ms), when the host keeps them where we can read. */
export function extensionHostMarks(extensionId: string): Record<string, number> | undefined {
  const perf = (globalThis as { MonacoPerformanceMarks?: { getMarks(): { name: string; startTime: number }[] } }).MonacoPerformanceMarks;
  if (typeof perf?.getMarks !== 'function') return undefined;
  const marks: Record<string, number> = {};
  for (const { name, startTime } of perf.getMarks()) {
    const m = /^code\/extHost\/(\w+)\/(.+)$/.exec(name);
    if (m && m[2] === extensionId) marks[m[1]] = startTime;
  }
  return marks.willLoadExtensionCode !== undefined ? marks : undefined;
}
