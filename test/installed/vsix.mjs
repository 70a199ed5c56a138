// The rules for what the .vsix holds, checked on the real file's entries (a .vsix is a zip): everything a
// user's install needs, nothing a user's install does not (sources, source maps, tests, bench, CI files,
// bytecode), the production bundle, and a size bound. Each rule is one check; a failing one names every
// offending entry.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import yauzl from 'yauzl';

export const MAX_VSIX_BYTES = 2 * 1024 * 1024;

/** Where vsce puts the extension's files inside the .vsix. */
const EXT = 'extension/';

/** Entries no installed copy may hold, each with the reason given for it. The first match names it. */
const FORBIDDEN = [
  [/(?<!^dist\/api\.d)\.(c|m)?tsx?$/, 'a TypeScript source'],
  [/\.map$/, 'a source map'],
  [/__pycache__\/|\.py[co]$/, 'Python bytecode'],
  [/(^|\/)(test|tests|__tests__)\/|\.(test|spec|phase)\.[cm]?[jt]s$|(^|\/)test_[^/]*\.py$/, 'a test'],
  [/(^|\/)bench\//, 'a benchmark'],
  [/(^|\/)(\.ci|\.github|\.circleci)\/|(^|\/)(\.gitlab-ci\.yml|azure-pipelines\.yml|\.travis\.yml)$/, 'a CI file'],
  [/(^|\/)src\//, 'a source folder'],
  [/(^|\/)node_modules\//, 'node_modules (the bundle is self-contained: --no-dependencies)'],
  [/(^|\/)(out|demo|\.vscode|\.vscode-test|test-results)\//, 'a development folder'],
  [/\.vsix$/, 'another .vsix'],
];

/** Every entry must match one of these (paths inside `extension/`), or the two files vsce writes beside it. */
const ALLOWED = [
  /^package\.json$/,
  /^(readme|changelog)\.md$/,
  /^LICENSE\.txt$/,
  /^dist\/([\w.-]+\/)*[\w.-]+\.(js|css)$/,
  // The public API's declaration file, for other extensions to compile against (README: Public API).
  /^dist\/api\.d\.ts$/,
  /^media\/[\w.-]+\.(svg|png|css)$/,
  // The walkthrough's step pages.
  /^media\/walkthrough\/[\w.-]+\.md$/,
  /^python\/aios_service\/([\w-]+\/)*[\w.-]+\.(py|json|txt)$/,
  /^schemas\/[\w.-]+\.json$/,
];
const VSCE_FILES = new Set(['[Content_Types].xml', 'extension.vsixmanifest']);

/** Files under `dir` (repository-relative, `/`-separated), without bytecode. */
function filesUnder(root, dir) {
  const full = join(root, dir);
  if (!existsSync(full)) return [];
  return readdirSync(full, { recursive: true })
    .map((name) => relative(root, join(full, name)).split(sep).join(posix.sep))
    .filter((p) => !/__pycache__|\.py[co]$/.test(p) && statSync(join(root, p)).isFile());
}

/** What the package must hold, read from the manifest and the folders it is made of. */
function requiredEntries(root) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const clean = (p) => posix.normalize(p.replace(/^\.\//, ''));
  const required = new Set(['package.json', 'readme.md', 'changelog.md', 'LICENSE.txt', 'dist/api.d.ts']);
  required.add(clean(pkg.main));
  if (pkg.icon) required.add(clean(pkg.icon));
  for (const v of pkg.contributes?.jsonValidation ?? []) if (!/^\w+:/.test(v.url)) required.add(clean(v.url));
  for (const w of pkg.contributes?.walkthroughs ?? [])
    for (const step of w.steps) for (const m of Object.values(step.media ?? {})) if (typeof m === 'string') required.add(clean(m));
  // The production build (vscode:prepublish) just wrote dist/; media and the service are sources.
  for (const p of filesUnder(root, 'dist')) if (/\.(js|css)$/.test(p)) required.add(p);
  for (const p of [...filesUnder(root, 'media'), ...filesUnder(root, join('python', 'aios_service'))]) required.add(p);
  return required;
}

async function readEntries(vsixPath) {
  const zip = await yauzl.openPromise(vsixPath);
  const entries = new Map();
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      let text;
      if (/^extension\/dist\/.*\.js$/.test(entry.fileName)) {
        const chunks = [];
        for await (const chunk of await zip.openReadStreamPromise(entry)) chunks.push(chunk);
        text = Buffer.concat(chunks).toString('utf8');
      }
      entries.set(entry.fileName, { size: entry.uncompressedSize, text });
    }
  } finally {
    zip.close();
  }
  return entries;
}

/**
 * Checks the .vsix at `vsixPath` against the rules, `root` being the repository it was packaged from.
 * Resolves to { checks: [{ title, failures: string[] }], bytes, unpackedBytes, entries }.
 */
export async function checkVsix(vsixPath, root) {
  const bytes = statSync(vsixPath).size;
  const entries = await readEntries(vsixPath);
  const names = [...entries.keys()];
  const inside = new Set(names.filter((n) => n.startsWith(EXT)).map((n) => n.slice(EXT.length)));

  const missing = [...requiredEntries(root)].filter((p) => !inside.has(p)).map((p) => `${EXT}${p}: missing`);
  for (const f of VSCE_FILES) if (!entries.has(f)) missing.push(`${f}: missing`);

  const unwanted = [];
  for (const name of names) {
    if (VSCE_FILES.has(name)) continue;
    const path = name.startsWith(EXT) ? name.slice(EXT.length) : name;
    const forbidden = FORBIDDEN.find(([re]) => re.test(path));
    if (forbidden) unwanted.push(`${name}: ${forbidden[1]}`);
    else if (!name.startsWith(EXT) || !ALLOWED.some((re) => re.test(path))) unwanted.push(`${name}: not something an installed copy needs`);
  }

  const development = [...entries]
    .filter(([, e]) => e.text !== undefined && /[#@] sourceMappingURL=/.test(e.text))
    .map(([name]) => `${name}: a development build (it links a source map); package runs "node esbuild.mjs --production"`);

  const kb = (n) => `${Math.round(n / 1024)} KB`;
  // The README tells users the size ("LICENSE: about 350 KB"): it must stay within a fifth of the real one.
  const said = /LICENSE: about (\d+) KB/.exec(readFileSync(join(root, 'README.md'), 'utf8'));
  const readmeSize = said
    ? Math.abs(Number(said[1]) * 1024 - bytes) <= bytes / 5
      ? []
      : [`README.md says "about ${said[1]} KB" for a ${kb(bytes)} .vsix: change it to about ${Math.round(bytes / 1024 / 10) * 10} KB`]
    : ['README.md no longer says the .vsix size ("LICENSE: about <n> KB")'];
  return {
    checks: [
      { title: 'holds the production bundle, webview assets, media, the Python service, README, LICENSE, CHANGELOG and the icon', failures: missing },
      { title: 'holds nothing else: no TypeScript sources, source maps, tests, bench, CI files or bytecode', failures: unwanted },
      { title: 'holds the production build of the bundles', failures: development },
      {
        title: `is at most ${kb(MAX_VSIX_BYTES)} (${kb(bytes)})`,
        failures: bytes <= MAX_VSIX_BYTES ? [] : [`${vsixPath}: ${kb(bytes)} is over ${kb(MAX_VSIX_BYTES)}`],
      },
      { title: `is the size the README says (${kb(bytes)})`, failures: readmeSize },
    ],
    bytes,
    unpackedBytes: [...entries.values()].reduce((sum, e) => sum + e.size, 0),
    entries: names.length,
  };
}
