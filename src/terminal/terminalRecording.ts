// Opt-in (aios.terminal.recordCommands): commands people run in integrated terminals are recorded through VS
// Code's shell-integration API (1.93+) as TERMINAL:<program> telemetry. Terminals without shell integration
// fire no events, so they record nothing. A command line the security policy would refuse gets a warning
// naming the pattern: it is already running and AIOS cannot stop it.
import * as vscode from 'vscode';
import type { AiosContext } from '../context';
import { TerminalRecorder, type TerminalRecording } from '../core';

/** The part of the extension's services this file uses. */
export type TerminalRecordingHost = Pick<AiosContext, 'log' | 'middleware'>;

export const RECORD_SETTING = 'terminal.recordCommands';
export const RECORD_LINES_SETTING = 'terminal.recordCommandLines';

export class TerminalRecordingSource implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private listening: vscode.Disposable[] = [];
  private readonly open = new Map<vscode.TerminalShellExecution, { recording: TerminalRecording; terminal: vscode.Terminal }>();
  private readonly recorder: TerminalRecorder;

  constructor(private readonly ctx: TerminalRecordingHost) {
    // Terminal commands already run: they are recorded, never queued (no admission slot for them).
    this.recorder = new TerminalRecorder({
      emit: ctx.middleware.record,
      policy: () => ctx.middleware.config.security,
      recordCommandLines: () => vscode.workspace.getConfiguration('aios').get<boolean>(RECORD_LINES_SETTING, false),
    });
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(`aios.${RECORD_SETTING}`)) this.apply();
      }),
    );
    this.apply();
  }

  get recording(): boolean {
    return this.listening.length > 0;
  }

  private apply(): void {
    const on = vscode.workspace.getConfiguration('aios').get<boolean>(RECORD_SETTING, false);
    if (on === this.recording) return;
    if (!on) {
      for (const d of this.listening.splice(0)) d.dispose();
      for (const { recording } of this.open.values()) recording.abandon('terminal recording was turned off');
      this.open.clear();
      this.ctx.log.info('Terminal commands are no longer recorded');
      return;
    }
    if (!this.recorder) {
      this.ctx.log.warn('Terminal commands cannot be recorded: the telemetry in use does not accept outside events');
      return;
    }
    const recorder = this.recorder;
    this.listening.push(
      vscode.window.onDidStartTerminalShellExecution((e) => {
        const commandLine = e.execution.commandLine;
        const recording = recorder.start(commandLine.value, { terminal: e.terminal.name, confidence: confidenceName(commandLine.confidence) });
        this.open.set(e.execution, { recording, terminal: e.terminal });
        if (recording.warning) {
          this.ctx.log.warn(`A terminal command (${recording.commandType}) matches the security policy; it cannot be stopped`);
          void vscode.window.showWarningMessage(`AIOS: ${recording.warning}`);
        }
      }),
      vscode.window.onDidEndTerminalShellExecution((e) => {
        const entry = this.open.get(e.execution);
        if (!entry) return;
        this.open.delete(e.execution);
        entry.recording.end(e.exitCode);
      }),
      vscode.window.onDidCloseTerminal((t) => {
        for (const [execution, entry] of this.open) {
          if (entry.terminal !== t) continue;
          this.open.delete(execution);
          entry.recording.abandon('its terminal was closed before it ended');
        }
      }),
    );
    this.ctx.log.info('Recording terminal commands (terminals with shell integration only)');
  }

  dispose(): void {
    for (const d of this.listening.splice(0)) d.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

function confidenceName(c: vscode.TerminalShellExecutionCommandLineConfidence): string {
  return c === vscode.TerminalShellExecutionCommandLineConfidence.High
    ? 'high'
    : c === vscode.TerminalShellExecutionCommandLineConfidence.Medium
      ? 'medium'
      : 'low';
}
