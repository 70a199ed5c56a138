// Installs the second test extension (test/fixtures/api-consumer) into the running host the way a user
// installs one: bundled with esbuild, packed as a .vsix (a zip: extension.vsixmanifest, [Content_Types].xml,
// extension/…) and installed with the workbench's own "Install from VSIX" command. No harness change needed.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as vscode from 'vscode';

const FIXTURE = resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'api-consumer');
export const CONSUMER_ID = 'aios-test.aios-api-consumer';

function vsixManifest(pkg: { name: string; publisher: string; version: string; displayName: string; description: string }): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011">
  <Metadata>
    <Identity Language="en-US" Id="${pkg.name}" Version="${pkg.version}" Publisher="${pkg.publisher}" />
    <DisplayName>${pkg.displayName}</DisplayName>
    <Description xml:space="preserve">${pkg.description}</Description>
    <Properties><Property Id="Microsoft.VisualStudio.Code.Engine" Value="^1.93.0" /></Properties>
  </Metadata>
  <Installation><InstallationTarget Id="Microsoft.VisualStudio.Code" /></Installation>
  <Dependencies />
  <Assets><Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json" Addressable="true" /></Assets>
</PackageManifest>
`;
}

const CONTENT_TYPES = `<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension=".json" ContentType="application/json" /><Default Extension=".js" ContentType="application/javascript" /><Default Extension=".vsixmanifest" ContentType="text/xml" /></Types>
`;

/** Builds the .vsix and returns its path. */
export async function buildConsumerVsix(): Promise<string> {
  // Test-time tools from the repository's devDependencies, loaded at run time (not bundled into the suite).
  const load = createRequire(__filename);
  const esbuild = load('esbuild') as typeof import('esbuild');
  const JSZip = load('jszip') as typeof import('jszip');
  const out = await esbuild.build({
    entryPoints: [join(FIXTURE, 'extension.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    write: false,
  });
  const pkgText = readFileSync(join(FIXTURE, 'package.json'), 'utf8');
  const zip = new JSZip();
  zip.file('extension.vsixmanifest', vsixManifest(JSON.parse(pkgText)));
  zip.file('[Content_Types].xml', CONTENT_TYPES);
  zip.file('extension/package.json', pkgText);
  zip.file('extension/extension.js', out.outputFiles[0].text);
  const dir = mkdtempSync(join(tmpdir(), 'aios-consumer-'));
  const vsix = join(dir, 'aios-api-consumer-0.0.1.vsix');
  writeFileSync(vsix, await zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE' }));
  return vsix;
}

/** Installs the consumer (once per host) and resolves when VS Code knows it. */
export async function installConsumer(): Promise<vscode.Extension<unknown>> {
  const existing = vscode.extensions.getExtension(CONSUMER_ID);
  if (existing) return existing;
  const vsix = await buildConsumerVsix();
  const appeared = new Promise<vscode.Extension<unknown>>((resolveExt, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`${CONSUMER_ID} was installed but never appeared in vscode.extensions (does this host add extensions without a reload?)`));
    }, 60_000);
    const sub = vscode.extensions.onDidChange(() => {
      const ext = vscode.extensions.getExtension(CONSUMER_ID);
      if (!ext) return;
      clearTimeout(timer);
      sub.dispose();
      resolveExt(ext);
    });
  });
  await vscode.commands.executeCommand('workbench.extensions.installExtension', vscode.Uri.file(vsix));
  return vscode.extensions.getExtension(CONSUMER_ID) ?? appeared;
}
