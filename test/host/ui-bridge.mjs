// The UI bridge: a loopback HTTP endpoint through which tests running *inside* the extension host ask
// the outer process, which owns the Playwright page, to look at the screen the way a user would (read
// the status bar, a tree, a webview's DOM; press keys; take screenshots). Requests are JSON
// `{op, ...args}`; replies are `{ok: true, value}` or `{ok: false, error}`.
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'node:util';

const MAX_BODY = 1 << 20;

/** Frames of webviews: VS Code nests the content in an iframe inside a /webview/ host iframe. */
function webviewFrames(page) {
  return page.frames().filter((f) => f.url().includes('/webview/') || f.parentFrame()?.url().includes('/webview/'));
}

async function webviewContentFrame(page, titleHint) {
  // The content frame is the innermost one under a webview host frame; pick the one whose document
  // title or body matches the hint when several webviews are open.
  const candidates = webviewFrames(page).filter((f) => f.childFrames().length === 0);
  for (const frame of candidates) {
    try {
      const title = await frame.evaluate(() => document.title + '\n' + (document.body?.innerText ?? ''));
      if (!titleHint || title.includes(titleHint)) return frame;
    } catch {
      /* frame detached while we looked */
    }
  }
  return undefined;
}

export function createUiBridge({ page, resultsDir, log }) {
  mkdirSync(resultsDir, { recursive: true });
  let suiteResult;

  /** Second windows a test opened: their pages and how their suites ended. */
  const windows = [];
  /** Plain browser tabs a test opened (openTab), and the ones the workbench opened by itself. */
  const tabs = [];
  const popups = [];
  const track = (tab) => {
    const t = { page: tab, console: [], errors: [], status: 0, finalUrl: '' };
    tab.on('console', (m) => t.console.push(`${m.type()}: ${m.text()}`));
    tab.on('pageerror', (e) => t.errors.push(String(e)));
    tab.on('close', () => (t.finalUrl = t.finalUrl || tab.url()));
    tabs.push(t);
    return t;
  };
  page.on('popup', (p) => {
    track(p);
    popups.push(tabs.length);
  });

  const ops = {
    /**
     * Opens a second workbench window on the same folder, running the in-host suite's phase `env.AIOS_TEST_PHASE`
     * in its own extension host (the same user data, so the same extension storage). Returns its id.
     */
    async openWindow({ env }) {
      const url = new URL(page.url());
      const payload = JSON.parse(url.searchParams.get('payload') ?? '[]');
      const entry = payload.find(([k]) => k === 'extensionEnvironment');
      if (!entry) throw new Error('the page has no extension environment to copy');
      entry[1] = JSON.stringify({ ...JSON.parse(entry[1]), ...env });
      url.searchParams.set('payload', JSON.stringify(payload));
      const second = await page.context().newPage();
      const w = { page: second, exitCode: null };
      await second.exposeFunction('codeAutomationExit', (code) => (w.exitCode = code));
      await second.exposeFunction('codeAutomationLog', (type, args) => {
        const line = format(...(Array.isArray(args) ? args : [args]));
        if (!/ENOTFOUND|workbench\.js|^\[[A-Za-z]+\]|authentication provider/.test(line)) process.stdout.write(`[window ${windows.length + 1}] ${line}\n`);
      });
      windows.push(w);
      await second.goto(url.toString());
      return windows.length;
    },
    /** The exit code of a second window's suite, or null while it runs. */
    async windowExit({ id }) {
      return windows[id - 1]?.exitCode ?? null;
    },
    async closeWindow({ id }) {
      await windows[id - 1]?.page.close();
      return true;
    },
    /**
     * Opens `url` in a new tab of the workbench's browser (its own cookie jar is the workbench's), recording the
     * tab's console messages, page errors and CSP violations. Returns its id for the tab* ops.
     */
    async openTab({ url }) {
      const tab = await page.context().newPage();
      const t = track(tab);
      const response = await tab.goto(url);
      t.status = response?.status() ?? 0;
      t.finalUrl = tab.url();
      return tabs.length;
    },
    /** What a tab recorded: the first navigation's final status and URL, console lines, page errors. */
    async tabInfo({ id }) {
      const t = tabs[id - 1];
      return { status: t.status, url: t.page.isClosed() ? t.finalUrl : t.page.url(), console: t.console, errors: t.errors };
    },
    // A string expression, not new Function: the page's CSP (no 'unsafe-eval') governs the page's own code,
    // while DevTools evaluation of an expression is exempt.
    async tabEvaluate({ id, fn, arg }) {
      return tabs[id - 1].page.evaluate(`(function (arg) {${fn}\n})(${JSON.stringify(arg ?? null)})`);
    },
    async tabWaitFor({ id, fn, arg, timeoutMs = 20_000 }) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await ops.tabEvaluate({ id, fn, arg });
        if (value) return value;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting in tab ${id} for: ${fn.slice(0, 120)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async tabClick({ id, selector }) {
      await tabs[id - 1].page.locator(selector).filter({ visible: true }).first().click({ timeout: 10_000 });
      return true;
    },
    async tabScreenshot({ id, name }) {
      if (!/^[\w.-]{1,80}$/.test(name)) throw new Error(`screenshot name must be [A-Za-z0-9_.-]{1,80}, got ${name}`);
      const file = join(resultsDir, `${name}.png`);
      await tabs[id - 1].page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async tabClose({ id }) {
      await tabs[id - 1].page.close();
      return true;
    },
    /** Tabs the workbench opened by itself (window.open, e.g. vscode.env.openExternal), oldest first: ids for the tab* ops. */
    async openedTabs() {
      return popups.map((id) => ({ id, url: tabs[id - 1].page.url() }));
    },
    async screenshot({ name }) {
      if (!/^[\w.-]{1,80}$/.test(name)) throw new Error(`screenshot name must be [A-Za-z0-9_.-]{1,80}, got ${name}`);
      const file = join(resultsDir, `${name}.png`);
      await page.screenshot({ path: file });
      return file;
    },
    /**
     * Saves a picture of the smallest box around every visible element matching `selectors` (each must match
     * one), with `padding` pixels around it (within the page), to `<name>.png`.
     */
    async screenshotOf({ name, selectors, padding = 0, timeoutMs = 10_000 }) {
      if (!/^[\w.-]{1,80}$/.test(name)) throw new Error(`screenshot name must be [A-Za-z0-9_.-]{1,80}, got ${name}`);
      const boxes = [];
      for (const selector of [].concat(selectors)) {
        const visible = page.locator(selector).filter({ visible: true });
        await visible.first().waitFor({ timeout: timeoutMs });
        for (const el of await visible.all()) {
          const box = await el.boundingBox();
          if (box) boxes.push(box);
        }
      }
      if (boxes.length === 0) throw new Error(`nothing visible matches ${[].concat(selectors).join(', ')}`);
      const { width, height } = page.viewportSize();
      const x = Math.max(0, Math.min(...boxes.map((b) => b.x)) - padding);
      const y = Math.max(0, Math.min(...boxes.map((b) => b.y)) - padding);
      const right = Math.min(width, Math.max(...boxes.map((b) => b.x + b.width)) + padding);
      const bottom = Math.min(height, Math.max(...boxes.map((b) => b.y + b.height)) + padding);
      const file = join(resultsDir, `${name}.png`);
      await page.screenshot({ path: file, clip: { x, y, width: right - x, height: bottom - y } });
      return file;
    },
    /** Evaluates a function body (string) in the workbench page with `arg`, returns its JSON result. */
    async evaluate({ fn, arg }) {
      return page.evaluate(({ source, value }) => new Function('arg', source)(value), { source: fn, value: arg });
    },
    /** Waits until the function body returns a truthy value in the page, returns it. */
    async waitFor({ fn, arg, timeoutMs = 20_000 }) {
      const handle = await page.waitForFunction(
        ({ source, value }) => new Function('arg', source)(value),
        { source: fn, value: arg },
        { timeout: timeoutMs, polling: 100 },
      );
      return handle.jsonValue();
    },
    /** Moves the mouse over the first visible element matching `selector` (tooltips, hovers). */
    async hover({ selector, timeoutMs = 10_000 }) {
      await page.locator(selector).filter({ visible: true }).first().hover({ timeout: timeoutMs });
      return true;
    },
    /** Turns the mouse wheel over the first visible element matching `selector` (scrolls virtual lists). */
    async wheel({ selector, deltaY, timeoutMs = 10_000 }) {
      await page.locator(selector).filter({ visible: true }).first().hover({ timeout: timeoutMs });
      await page.mouse.wheel(0, deltaY);
      return true;
    },
    async press({ keys }) {
      for (const key of [].concat(keys)) await page.keyboard.press(key);
      return true;
    },
    /**
     * Clicks the first visible element matching `selector` whose text contains `text` (when given), with
     * `modifiers` held, the button held down `holdMs` between press and release.
     */
    async click({ selector, text, button = 'left', timeoutMs = 10_000, modifiers = [], holdMs = 0 }) {
      const locator = page
        .locator(selector, text ? { hasText: text } : {})
        .filter({ visible: true })
        .first();
      await locator.click({ timeout: timeoutMs, button, modifiers, delay: holdMs });
      return true;
    },
    /** Sets an input's value at once (as a paste does) and waits until it reads back. */
    async fill({ selector, text, timeoutMs = 10_000 }) {
      const input = page.locator(selector).filter({ visible: true }).first();
      await input.fill(text, { timeout: timeoutMs });
      await page.waitForFunction(
        ({ sel, value }) => [...document.querySelectorAll(sel)].some((e) => e.value === value),
        { sel: selector, value: text },
        { timeout: timeoutMs },
      );
      return true;
    },
    async type({ text }) {
      await page.keyboard.type(text, { delay: 5 });
      return true;
    },
    /** Runs a command from the palette as a user does: F1, type its title, Enter. */
    async runFromPalette({ title, opened = false }) {
      if (!opened) await page.keyboard.press('F1');
      await page.waitForSelector('.quick-input-widget:not([style*="display: none"]) input', { timeout: 10_000 });
      // As a person does, type once the box has the focus (and its '>'): keys sent before land elsewhere.
      await page.waitForFunction(
        () => {
          const input = document.activeElement;
          return input instanceof HTMLInputElement && input.closest('.quick-input-widget') !== null && input.value.startsWith('>');
        },
        undefined,
        { timeout: 10_000, polling: 50 },
      );
      await page.keyboard.type(`${title}`, { delay: 5 });
      // The palette matches loosely and puts recently used commands first: pick the row whose label is the
      // title (an ellipsis after it allowed), not whatever comes first. By its label, found again when
      // clicked: the list re-renders when a context key changes (a command that ends hides Cancel Running
      // Command…), and a row's index then names another command.
      const wanted = title.replace(/^>\s*/, '');
      const escaped = wanted.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ /g, '[\\s\\u00a0]');
      const row = page
        .locator('.quick-input-list .monaco-list-row')
        .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${escaped}…?\\s*$`) }) })
        .first();
      await row.click({ timeout: 10_000 });
      return true;
    },
    /** Evaluates a function body inside the webview whose text contains `titleHint`. */
    async webviewEvaluate({ fn, arg, titleHint, timeoutMs = 20_000 }) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const frame = await webviewContentFrame(page, titleHint);
        if (frame) {
          try {
            return await frame.evaluate(({ source, value }) => new Function('arg', source)(value), { source: fn, value: arg });
          } catch (err) {
            if (Date.now() > deadline) throw err;
          }
        } else if (Date.now() > deadline) {
          throw new Error(`no webview${titleHint ? ` containing "${titleHint}"` : ''} appeared within ${timeoutMs} ms`);
        }
        await new Promise((r) => setTimeout(r, 150));
      }
    },
    /** The in-host suite reports its counts here before the extension host exits. */
    async result({ passed, failed, pending }) {
      // Added up: a suite that reloads its window reports from each run that reaches its end.
      suiteResult = {
        passed: (suiteResult?.passed ?? 0) + passed,
        failed: (suiteResult?.failed ?? 0) + failed,
        pending: (suiteResult?.pending ?? 0) + pending,
      };
      return true;
    },
  };

  const server = createServer((req, res) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', async () => {
      let reply;
      try {
        const { op, ...args } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (!Object.hasOwn(ops, op)) throw new Error(`unknown UI bridge op: ${op}`);
        reply = { ok: true, value: (await ops[op](args)) ?? null };
      } catch (err) {
        reply = { ok: false, error: err instanceof Error ? err.message : String(err) };
        log?.(`ui-bridge error: ${reply.error}`);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply));
    });
  });

  return {
    listen: () => new Promise((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${server.address().port}`))),
    close: () => new Promise((r) => server.close(() => r())),
    /** The counts the last suite run reported (undefined if it reported none), cleared for the next run. */
    takeSuiteResult() {
      const r = suiteResult;
      suiteResult = undefined;
      return r;
    },
  };
}
