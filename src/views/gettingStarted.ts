// The getting-started walkthrough's state: context keys its steps complete on (or are shown on), set from what
// really happened: the service started (or no Python was found), a command ran, a workspace handler loaded.
// The tree and the panel steps complete on VS Code's own events (the view opened, the command ran).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { CONTROL_PREFIX } from '../core';
import type { AiosContext } from '../context';
import { WORKSPACE_DIR } from '../python/workspaceFiles';
import { WALKTHROUGH_ID, WALKTHROUGH_STEPS_BY_CONTEXT } from '../shared/ids';

/** The part of the extension's services this file uses. */
export type GettingStartedHost = Pick<AiosContext, 'extension' | 'middleware' | 'supervisor'>;

const WELCOMED_KEY = 'aios.walkthroughShown';

export const HANDLERS_TEMPLATE = `"""This workspace's own AIOS commands. The service imports this file at start and again when you save it
(only in a trusted workspace). Standard library only: see python/README.md of the AIOS extension."""

from aios_service import command, control_command


@command("GREET", description="Say hello to parameters.name.",
         parameters={"name": "string: who to greet"}, example={"name": "Ada"})
def greet(params):
    return {"greeting": "Hello, %s!" % params.get("name", "world")}


@control_command("set_greeting_style", description="Choose how GREET greets (a control command).",
                 parameters={"style": "string: plain or loud"}, example={"style": "loud"})
def set_greeting_style(arguments):
    return {"style": arguments.get("style", "plain")}
`;

export class GettingStarted implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly keys = new Map<string, boolean>();
  private readonly completed = new Set<string>();

  constructor(private readonly ctx: GettingStartedHost) {
    this.disposables.push(
      ctx.supervisor.onDidChangeState((s) => {
        this.set('aios.serviceRunning', s.status === 'healthy' || s.status === 'unhealthy');
        this.set('aios.noPython', s.noInterpreter === true);
        if (s.health) this.set('aios.workspaceHandlers', s.health.handlers.loaded && s.health.handlers.commandTypes.length > 0);
      }),
      ctx.middleware.telemetry.onEvent((e) => {
        if (e.eventType === 'COMPLETE' && !e.commandType.startsWith(CONTROL_PREFIX)) this.set('aios.commandRan', true);
      }),
    );
    this.set('aios.noPython', false);
  }

  /** Opens the walkthrough once per installation (not while VS Code runs the extension's tests). */
  showOnFirstRun(): void {
    const { extension } = this.ctx;
    if (extension.extensionMode === vscode.ExtensionMode.Test || extension.globalState.get(WELCOMED_KEY)) return;
    void extension.globalState.update(WELCOMED_KEY, true);
    void vscode.commands.executeCommand('workbench.action.openWalkthrough', WALKTHROUGH_ID, false);
  }

  /** Only changes are sent: every ping and event lands here. */
  private set(key: string, value: boolean): void {
    if (this.keys.get(key) === value) return;
    this.keys.set(key, value);
    void vscode.commands.executeCommand('setContext', key, value);
    if (value) for (const step of WALKTHROUGH_STEPS_BY_CONTEXT[key] ?? []) this.complete(step);
  }

  /**
   * Marks a step done as its event happens. VS Code completes an `onContext` step only when the key changes
   * after it registered the walkthrough, and it registers late (after a 5 s wait for its experiment service
   * when offline) or only when the walkthrough is first opened: a service that came up before then left its
   * step unticked for the whole session. `welcome.markStepComplete` (the walkthrough's own "Mark Done") stores
   * the step's progress even before the step is registered (the call then rejects, harmlessly).
   */
  private complete(step: string): void {
    if (this.completed.has(step)) return;
    this.completed.add(step);
    void vscode.commands.executeCommand('welcome.markStepComplete', `${WALKTHROUGH_ID}#${step}`).then(undefined, () => undefined);
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

/** "AIOS: Add a Workspace Handler": opens `.aios/handlers.py`, creating it from a small example when missing. */
export async function addWorkspaceHandler(): Promise<vscode.TextEditor | undefined> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (!folder) {
    void vscode.window.showInformationMessage('AIOS: open a folder first: workspace handlers live in its .aios/handlers.py.');
    return undefined;
  }
  const file = join(folder, WORKSPACE_DIR, 'handlers.py');
  if (!existsSync(file)) {
    mkdirSync(join(folder, WORKSPACE_DIR), { recursive: true });
    writeFileSync(file, HANDLERS_TEMPLATE, { flag: 'wx' });
  }
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('AIOS: this workspace is not trusted, so the service does not load its .aios/handlers.py until you trust it.');
  }
  return vscode.window.showTextDocument(vscode.Uri.file(file));
}
