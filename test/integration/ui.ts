// A typed client of the UI bridge (test/host/ui-bridge.mjs): lets in-host tests look at the screen
// through the real browser. Without a bridge (e.g. under @vscode/test-electron) screen checks skip.
import type { Context, Runnable } from 'mocha';
import * as vscode from 'vscode';
import { Views } from '../../src/shared/ids';

const bridgeUrl = process.env.AIOS_UI_BRIDGE;

export const hasUi = Boolean(bridgeUrl);

async function call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
  if (!bridgeUrl) throw new Error('no UI bridge: run the suite through `npm test`');
  const res = await fetch(bridgeUrl, { method: 'POST', body: JSON.stringify({ op, ...args }) });
  const reply = (await res.json()) as { ok: boolean; value?: T; error?: string };
  if (!reply.ok) throw new Error(`UI bridge ${op}: ${reply.error}`);
  return reply.value as T;
}

let currentTest: Runnable | undefined;
/** The test now running (the suite's beforeEach sets it), for onScreen(). */
export function setCurrentTest(test: Runnable | undefined): void {
  currentTest = test;
}

/**
 * For the screen checks of a test that also asserts through the API: true with a browser to look through;
 * without one the test stops here and is reported as skipped (pending), never as passed without having
 * looked. Its API assertions before this point have run.
 */
export function onScreen(): boolean {
  if (!hasUi) currentTest?.skip();
  return hasUi;
}

/** Skips the current test when there is no browser to look through. */
export function requireUi(ctx: Context): void {
  if (!hasUi) ctx.skip();
}

/** Saves test-results/<name>.png. */
export const screenshot = (name: string) => call<string>('screenshot', { name });
/** Saves test-results/<name>.png: the box around every visible element matching the selectors, plus padding. */
export const screenshotOf = (name: string, selectors: string[], padding = 0) => call<string>('screenshotOf', { name, selectors, padding });

/** Evaluates `fnBody` (the body of `function (arg) {…}`) in the workbench page. */
export const evaluate = <T>(fnBody: string, arg?: unknown) => call<T>('evaluate', { fn: fnBody, arg });

/** Waits until `fnBody` returns something truthy in the workbench page, and returns it. */
export const waitFor = <T>(fnBody: string, arg?: unknown, timeoutMs = 20_000) => call<T>('waitFor', { fn: fnBody, arg, timeoutMs });

/** Moves the mouse over the first visible element matching `selector`. */
export const hover = (selector: string) => call<boolean>('hover', { selector });
export const press = (...keys: string[]) => call<boolean>('press', { keys });
export const type = (text: string) => call<boolean>('type', { text });
/** Clicks the first visible element matching `selector` (and containing `text`). */
export const click = (selector: string, text?: string, timeoutMs?: number) => call<boolean>('click', { selector, text, timeoutMs });
/**
 * A click as a person makes it: the button held ~120 ms between press and release. A row re-rendered in that
 * time loses an inline action's click (the press and the release land on different elements).
 */
export const personClick = (selector: string, text?: string) => call<boolean>('click', { selector, text, holdMs: 120 });
/** Sets the value of the visible input matching `selector` at once, as a paste does. */
export const fill = (selector: string, text: string) => call<boolean>('fill', { selector, text });
/** Opens the context menu of the first visible element matching `selector` (and containing `text`). */
/** A click with keys held, e.g. ['ControlOrMeta'] to follow an editor link as a person does on any platform. */
export const clickWith = (modifiers: string[], selector: string, text?: string) => call<boolean>('click', { selector, text, modifiers });

export const rightClick = (selector: string, text?: string) => call<boolean>('click', { selector, text, button: 'right' });

/** Where notifications are read: VS Code shows no toasts while an extension test suite runs, so the center. */
export const NOTIFICATION_ITEM = '.notifications-center .notification-list-item';

/** Texts of the notifications, read from the (opened) notification center as a user would. */
export async function notificationTexts(): Promise<string[]> {
  await vscode.commands.executeCommand('notifications.showList');
  return evaluate<string[]>(`return [...document.querySelectorAll(arg)].map((e) => e.textContent.replace(/\u00a0/g, ' '));`, NOTIFICATION_ITEM);
}

/** Labels of the visible rows of the tree view titled `viewTitle` (aria-labels, as a screen reader hears them). */
export const treeRows = (viewTitle: string) =>
  evaluate<string[]>(
    `const panes = [...document.querySelectorAll('.pane')].filter((p) => p.querySelector('.pane-header')?.textContent.includes(arg));
    return panes.flatMap((p) => [...p.querySelectorAll('.monaco-list-row')].map((r) => r.getAttribute('aria-label') || r.textContent));`,
    viewTitle,
  );
/** Marks the element matching `selector` (false when there is none): a re-render replaces it, and the mark with it. */
export const markElement = (selector: string) =>
  evaluate<boolean>(`const a = document.querySelector(arg); if (!a) return false; a.dataset.aiosMark = '1'; return true;`, selector);
/** Whether the element matching `selector` now is the one `markElement` marked. */
export const stillMarked = (selector: string) => evaluate<boolean>(`return document.querySelector(arg)?.dataset.aiosMark === '1';`, selector);

/** The side bar's title as shown ("AIOS: Telemetry · …" while the AIOS view is open there alone). */
export const sideBarTitle = () => evaluate<string>(`return document.querySelector('.part.sidebar .composite.title')?.textContent ?? '';`);

/**
 * Runs the palette command titled `title` as a person does: the palette opened (as View > Command Palette
 * does; F1 does not reach the workbench while a terminal the previous suite used has the focus), the title
 * typed once the box has the focus, its row clicked.
 */
export async function runFromPalette(title: string): Promise<boolean> {
  await vscode.commands.executeCommand('workbench.action.showCommands');
  return call<boolean>('runFromPalette', { title, opened: true });
}

/** Evaluates `fnBody` inside the webview whose text contains `titleHint`. */
export const webviewEvaluate = <T>(fnBody: string, arg?: unknown, titleHint?: string, timeoutMs = 20_000) =>
  call<T>('webviewEvaluate', { fn: fnBody, arg, titleHint, timeoutMs });

/**
 * The accessible label of the status-bar entry whose id ends with `itemId`, once it shows (and, given
 * `pattern`, once its label matches it: the indicator renders a few times a second, not at once).
 */
export function statusBarText(itemId: string, pattern?: RegExp, timeoutMs = 20_000): Promise<string> {
  return waitFor<string>(
    `const el = [...document.querySelectorAll('.statusbar-item')].find((e) => e.id && e.id.endsWith(arg.id));
     const label = el && el.offsetParent !== null ? (el.getAttribute('aria-label') || el.textContent || ' ') : null;
     return label && (!arg.source || new RegExp(arg.source, arg.flags).test(label)) ? label : null;`,
    { id: itemId, source: pattern?.source, flags: pattern?.flags },
    timeoutMs,
  );
}

export const reportResult = (r: { passed: number; failed: number; pending: number }) => (bridgeUrl ? call<boolean>('result', r) : Promise.resolve(true));

/** The quick input's title while it is showing, else null (a script for `waitFor`/`evaluate`). */
export const QUICK_INPUT_TITLE = `const w = document.querySelector('.quick-input-widget');
  return w && w.offsetParent !== null ? (w.querySelector('.quick-input-title')?.textContent ?? '') : null;`;

/** Waits for the quick input's title to show `title` (a step of a multi-step command), then answers it. */
export async function answerQuickInput(title: RegExp, answer: string): Promise<void> {
  // The title, not the whole widget: a list item's description may contain the next step's word.
  await waitFor(`const t = (() => { ${QUICK_INPUT_TITLE} })(); return t !== null && new RegExp(arg).test(t) ? true : null;`, title.source);
  // Typing key by key can lose a key while the widget switches steps; set the value at once, then accept.
  await fill('.quick-input-widget input', answer);
  await press('Enter');
}

/** "AIOS: Run Command…" from the palette, answering its three steps as a user types them. */
export async function runCommandFromPalette(commandType: string, priority: string, parameters: string): Promise<void> {
  await runFromPalette('AIOS: Run Command');
  await answerQuickInput(/\(1\/3\): command type/, commandType);
  await answerQuickInput(/\(2\/3\): priority/, priority);
  await answerQuickInput(/\(3\/3\): parameters/, parameters);
  // Accepted: the last step has closed (the command has been submitted).
  await waitFor(`const t = (() => { ${QUICK_INPUT_TITLE} })(); return t === null || !/\\(3\\/3\\)/.test(t) ? true : null;`);
}

/**
 * Opens the tree section titled `label` in the AIOS view with one click on its row, as a user would, and waits
 * until it is open. The tree is a virtual list: a row scrolled out of sight is not in the page, so first
 * the other sections are collapsed (unless `alone` is false) and the list is scrolled to the top. One click:
 * the tree keeps its rows in place while commands flow, so a click that does not open the section is a fault.
 */
export async function expandTreeSection(label: string, { alone = true } = {}): Promise<void> {
  await vscode.commands.executeCommand(`workbench.view.extension.${Views.container}`);
  const LIST = '.pane .monaco-list';
  await waitFor(`return document.querySelector('${LIST} .monaco-list-row') ? true : null;`);
  if (alone) {
    // The view's own "Collapse All" (createTreeView's showCollapseAll), once the tree is drawn, including the rows
    // of the sections open by default (Overview, Command Types): before that it is a no-op for them, and they
    // open when their rows arrive (seen when this test was the first to show the view), moving every row below.
    // Drawn: every open section shows rows, or (a section open with none yet, Command Types before any command
    // has ended) the rows (their levels, states and labels, not their moving figures) have not changed for a second.
    const OPEN_ROWS = `const rows = [...document.querySelectorAll('${LIST} .monaco-list-row[data-index]')].sort((a, b) => a.dataset.index - b.dataset.index);
      const drawn = rows.length > 0 && rows.every((r, i) => r.getAttribute('aria-level') !== '1' || r.getAttribute('aria-expanded') !== 'true' || (rows[i + 1]?.getAttribute('aria-level') ?? '2') === '2');
      return drawn ? 'drawn' : rows.map((r) => r.getAttribute('aria-level') + (r.getAttribute('aria-expanded') ?? '') + r.querySelector('.label-name')?.textContent).join('\\n');`;
    const deadline = Date.now() + 10_000;
    for (let last = '', since = Date.now(); ;) {
      const now = await evaluate<string>(OPEN_ROWS);
      if (now === 'drawn' || (now !== '' && now === last && Date.now() - since >= 1000)) break;
      if (now !== last) [last, since] = [now, Date.now()];
      if (Date.now() > deadline) throw new Error(`the AIOS tree did not draw the rows of its open sections: ${now}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await vscode.commands.executeCommand(`workbench.actions.treeView.${Views.telemetry}.collapseAll`);
    await waitFor(`return document.querySelector('${LIST} .monaco-list-row[aria-level="1"][aria-expanded="true"]') ? null : true;`, undefined, 5000).catch(
      () => {
        throw new Error('Collapse All left a section of the AIOS tree open');
      },
    );
  }
  await call<boolean>('wheel', { selector: LIST, deltaY: -100_000 });
  const expanded = await waitFor<string>(`return (() => { ${SECTION_STATE} })();`, label, 10_000).catch(() => {
    throw new Error(`the tree section "${label}" is not on screen`);
  });
  if (expanded === 'true') return;
  await toggleTreeSection(label, true);
}

/** A page script's start: `row`, the AIOS tree's row on screen labelled exactly `arg` (undefined if none). */
export const TREE_ROW_BY_LABEL = `const row = [...document.querySelectorAll('.pane .monaco-list-row[data-index]')].find((r) => r.querySelector('.label-name')?.textContent === arg);`;

/** Whether the tree section titled `arg` is open: 'true', 'false', or null when its row is not on screen. */
const SECTION_STATE = `${TREE_ROW_BY_LABEL} return row ? row.getAttribute('aria-expanded') : null;`;

/** The data-index of the AIOS tree's row labelled exactly `label`, once it is on screen. */
export const treeRowIndex = (label: string, timeoutMs?: number): Promise<string> =>
  waitFor<string>(`${TREE_ROW_BY_LABEL} return row ? row.dataset.index : null;`, label, timeoutMs);

/** One click on the header of the tree section titled `label` (on screen), which must then be open (or closed). */
export async function toggleTreeSection(label: string, open: boolean): Promise<void> {
  await click('.pane .monaco-list-row', label);
  await waitFor(`return ((arg) => { ${SECTION_STATE} })(arg.label) === arg.open || null;`, { label, open: String(open) }, 5000).catch(() => {
    throw new Error(`one click on the tree section "${label}" did not ${open ? 'open' : 'close'} it`);
  });
}

/**
 * The data-index of the lowest row containing `text` in the AIOS view, after scrolling it to the bottom as a
 * user does to see the newest events (event lists are oldest first). Rows of a virtual list are not in visual
 * order in the DOM, hence the index.
 */
export async function lastTreeRow(text: string, timeoutMs = 20_000): Promise<string> {
  // New rows join below what is on screen (the list does not follow them): look, scroll down again, look.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await call<boolean>('wheel', { selector: '.pane .monaco-list', deltaY: 100_000 });
    const index = await evaluate<string | null>(
      `const rows = [...document.querySelectorAll('.pane .monaco-list-row[data-index]')].filter((r) => r.textContent.includes(arg));
       rows.sort((a, b) => Number(b.dataset.index) - Number(a.dataset.index));
       return rows[0]?.dataset.index ?? null;`,
      text,
    );
    if (index !== null) return index;
    if (Date.now() > deadline) throw new Error(`no tree row with "${text}" at the bottom of the view`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Opens a second window whose extension host runs `<phase>.phase.js` (with `env`); resolves to its id. */
export const openWindow = (phase: string, env: Record<string, string> = {}) => call<number>('openWindow', { env: { ...env, AIOS_TEST_PHASE: phase } });
/** The exit code of that window's suite, or null while it runs. */
export const windowExit = (id: number) => call<number | null>('windowExit', { id });
export const closeWindow = (id: number) => call<boolean>('closeWindow', { id });

/** Hovers the status-bar entry whose id ends with `itemId` and returns the hover's text once it shows. */
export async function statusBarTooltip(itemId: string, pattern?: RegExp, timeoutMs = 10_000): Promise<string> {
  await call<boolean>('hover', { selector: `.statusbar-item[id$="${itemId}"]` });
  return waitFor<string>(
    `const h = [...document.querySelectorAll('.monaco-hover, .workbench-hover')].find((e) => e.offsetParent !== null);
     const t = h ? h.textContent.replace(/\u00a0/g, ' ') : null;
     return t && (!arg.source || new RegExp(arg.source, arg.flags).test(t)) ? t : null;`,
    { source: pattern?.source, flags: pattern?.flags },
    timeoutMs,
  );
}

// ---- plain browser tabs (the dashboard in the browser) ----------------------------------------------------

/** Opens `url` in a new tab of the test browser; its console and CSP reports are kept (tabInfo). */
export const openTab = (url: string) => call<number>('openTab', { url });
export const tabInfo = (id: number) => call<{ status: number; url: string; console: string[]; errors: string[] }>('tabInfo', { id });
export const tabEvaluate = <T>(id: number, fnBody: string, arg?: unknown) => call<T>('tabEvaluate', { id, fn: fnBody, arg });
export const tabWaitFor = <T>(id: number, fnBody: string, arg?: unknown, timeoutMs = 20_000) => call<T>('tabWaitFor', { id, fn: fnBody, arg, timeoutMs });
export const tabClick = (id: number, selector: string) => call<boolean>('tabClick', { id, selector });
export const tabScreenshot = (id: number, name: string) => call<string>('tabScreenshot', { id, name });
export const tabClose = (id: number) => call<boolean>('tabClose', { id });
/** URLs of the tabs the workbench opened by itself (vscode.env.openExternal), oldest first. */
export const openedTabs = () => call<{ id: number; url: string }[]>('openedTabs');
