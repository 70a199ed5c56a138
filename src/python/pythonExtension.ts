// The Python extension (ms-python.python), when installed: its active interpreter through its documented
// `environments` API, and its changes (the service restarts on them when that interpreter is the one in use).
import * as vscode from 'vscode';

interface PythonExtensionApi {
  environments?: {
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
    resolveEnvironment(env: { path: string } | string): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
  };
}

const PYTHON_EXTENSION_ID = 'ms-python.python';

/** The Python extension's active interpreter for the first workspace folder, when it is installed. */
export async function pythonExtensionInterpreter(): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
  if (!ext) return undefined;
  const api = ext.isActive ? ext.exports : await ext.activate();
  const environments = api?.environments;
  if (!environments) return undefined;
  const active = environments.getActiveEnvironmentPath(vscode.workspace.workspaceFolders?.[0]?.uri);
  const resolved = await environments.resolveEnvironment(active);
  return resolved?.executable.uri?.fsPath ?? active.path;
}

/**
 * Calls `onChange` when the Python extension's active environment changes. The returned Disposable ends the
 * subscription, including one made after it is disposed (the extension activates asynchronously).
 */
export function watchPythonExtension(onChange: () => void, warn: (message: string) => void): vscode.Disposable {
  const ext = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
  let subscription: vscode.Disposable | undefined;
  let disposed = false;
  if (ext) {
    (ext.isActive ? Promise.resolve(ext.exports) : Promise.resolve(ext.activate())).then(
      (api) => {
        subscription = api?.environments?.onDidChangeActiveEnvironmentPath?.(onChange);
        if (disposed) subscription?.dispose();
      },
      (err: unknown) => warn(`The Python extension did not activate: ${err instanceof Error ? err.message : String(err)}`),
    );
  }
  return new vscode.Disposable(() => {
    disposed = true;
    subscription?.dispose();
  });
}
