// Composition root: builds the services, registers contributions, and owns nothing but their disposal.
import * as vscode from 'vscode';

export interface AiosApi {
  readonly version: string;
}

export function activate(context: vscode.ExtensionContext): AiosApi {
  const log = vscode.window.createOutputChannel('AIOS', { log: true });
  context.subscriptions.push(log);

  const status = vscode.window.createStatusBarItem('aios.status', vscode.StatusBarAlignment.Left, 100);
  status.name = 'AIOS Throttle';
  status.text = '$(pulse) AIOS';
  status.tooltip = 'AIOS Middleware: ready';
  status.command = 'aios.showOutput';
  status.show();
  context.subscriptions.push(status);

  context.subscriptions.push(vscode.commands.registerCommand('aios.showOutput', () => log.show(true)));
  log.info(`AIOS Middleware ${context.extension.packageJSON.version} activated`);
  return { version: context.extension.packageJSON.version as string };
}

export function deactivate(): void {
  // Everything is a Disposable in context.subscriptions; VS Code disposes them.
}
