// `npm start`: builds the extension, provisions the host when needed and runs code-server on loopback with
// this extension installed and the demo workspace open, until Ctrl-C.
//   npm start -- --port 8080            listen on a fixed port (default: a free one)
//   npm start -- --screenshot FILE      open it in headless Chromium, wait for the AIOS status-bar item,
//                                       save a screenshot and exit
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { provision, repoRoot } from './provision.mjs';
import { launchBrowser, makeSandbox, startCodeServer } from './server.mjs';

const { values } = parseArgs({
  options: { port: { type: 'string' }, screenshot: { type: 'string' }, verbose: { type: 'boolean' }, folder: { type: 'string' } },
});
const port = values.port ? Number(values.port) : undefined;
if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
  console.error(`--port must be a port number from 1 to 65535, got "${values.port}"`);
  process.exit(2);
}

execFileSync(process.execPath, ['esbuild.mjs'], { cwd: repoRoot, stdio: 'inherit' });
const host = provision();
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
const folder = resolve(values.folder ?? join(repoRoot, 'demo'));
const sandbox = makeSandbox();
const server = await startCodeServer({
  host,
  sandbox,
  folder,
  port,
  verbose: values.verbose,
  extensionLinks: { [`${pkg.publisher}.${pkg.name}-${pkg.version}`]: repoRoot },
});
const url = `${server.url}/?folder=${encodeURIComponent(folder)}`;

if (values.screenshot) {
  const file = resolve(values.screenshot);
  let browser;
  try {
    browser = await launchBrowser(host, sandbox);
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.goto(url);
    // The workbench renders 8-14 s after /healthz on this kind of machine; the extension activates after.
    await page.waitForFunction(
      () => [...document.querySelectorAll('.statusbar-item')].some((e) => e.id.endsWith('aios.status') && e.offsetParent !== null),
      undefined,
      { timeout: 90_000, polling: 200 },
    );
    await page.waitForTimeout(1500); // let the first status and view updates paint
    await page.screenshot({ path: file });
    console.log(`screenshot saved: ${file}`);
  } catch (err) {
    console.error(`could not take the screenshot: ${err instanceof Error ? err.message : err}`);
    process.exitCode = 1;
  } finally {
    await browser?.close().catch(() => {});
    server.dispose();
  }
} else {
  console.log(
    `\nAIOS Middleware is running in VS Code (code-server, on loopback):\n\n  ${url}\n\nOpen it in a browser. Ctrl-C stops it and removes everything it wrote.\n`,
  );
  // Keep running until a signal: server.mjs disposes the process group and the temp folder.
  server.child.on('exit', (code) => {
    console.error(`code-server exited (code ${code}); see ${server.logFile}`);
    server.dispose();
    process.exit(1);
  });
}
