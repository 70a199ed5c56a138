// Parameters as a JSON document: `aios-params:/<command>.json` lives in memory (nothing is written to disk),
// opens in an ordinary editor (with JSON highlighting and validation), and each save submits it. The document
// stays open, so editing and saving again reruns the command with the new parameters.
import * as vscode from 'vscode';
import { parseJsonObject } from '../shared/jsonObject';

export const PARAMETERS_SCHEME = 'aios-params';

interface Entry {
  data: Uint8Array;
  mtime: number;
  onSubmit?: (value: Record<string, unknown>) => void;
}

export class ParametersEditor implements vscode.FileSystemProvider, vscode.Disposable {
  private readonly files = new Map<string, Entry>();
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;

  /** Opens `name`'s parameters as a document; every save calls `onSubmit` with the parsed object. */
  async open(name: string, value: Readonly<Record<string, unknown>>, onSubmit: (value: Record<string, unknown>) => void): Promise<vscode.TextEditor> {
    const uri = vscode.Uri.from({ scheme: PARAMETERS_SCHEME, path: `/${name.replace(/[^\w.-]+/g, '_')}.json` });
    const existing = this.files.get(uri.path);
    if (existing) existing.onSubmit = onSubmit;
    else this.files.set(uri.path, { data: new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`), mtime: Date.now(), onSubmit });
    const doc = await vscode.workspace.openTextDocument(uri);
    const editor = await vscode.window.showTextDocument(doc, { preview: false });
    void vscode.window.setStatusBarMessage(`AIOS: edit the parameters, then save (${process.platform === 'darwin' ? '⌘S' : 'Ctrl+S'}) to run ${name}`, 8000);
    return editor;
  }

  // ---- FileSystemProvider: a flat in-memory folder ----------------------------------------------------------

  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }

  stat(uri: vscode.Uri): vscode.FileStat {
    if (uri.path === '/') return { type: vscode.FileType.Directory, ctime: 0, mtime: 0, size: 0 };
    const e = this.entry(uri);
    return { type: vscode.FileType.File, ctime: e.mtime, mtime: e.mtime, size: e.data.byteLength };
  }

  readDirectory(): [string, vscode.FileType][] {
    return [...this.files.keys()].map((p) => [p.slice(1), vscode.FileType.File]);
  }

  createDirectory(): void {
    throw vscode.FileSystemError.NoPermissions('AIOS parameter documents have no folders');
  }

  readFile(uri: vscode.Uri): Uint8Array {
    return this.entry(uri).data;
  }

  writeFile(uri: vscode.Uri, content: Uint8Array): void {
    const e = this.files.get(uri.path) ?? { data: content, mtime: 0 };
    e.data = content;
    e.mtime = Date.now();
    this.files.set(uri.path, e);
    this.emitter.fire([{ type: vscode.FileChangeType.Changed, uri }]);
    // The save itself always succeeds (the text is kept); a document that is not a JSON object is not run.
    const parsed = parseJsonObject(new TextDecoder().decode(content));
    if (parsed.error) void vscode.window.showErrorMessage(`AIOS: not run: ${parsed.error} (${uri.path.slice(1)})`);
    else if (e.onSubmit) e.onSubmit(parsed.value!);
  }

  delete(uri: vscode.Uri): void {
    this.files.delete(uri.path);
  }

  rename(): void {
    throw vscode.FileSystemError.NoPermissions('AIOS parameter documents cannot be renamed');
  }

  dispose(): void {
    this.emitter.dispose();
    this.files.clear();
  }

  private entry(uri: vscode.Uri): Entry {
    const e = this.files.get(uri.path);
    if (!e) throw vscode.FileSystemError.FileNotFound(uri);
    return e;
  }
}
