// Asking for a JSON object: a one-line input box validated as it is typed, with a button that opens the
// object as a JSON document for anything longer (saving the document submits it).
import * as vscode from 'vscode';
import { parseJsonObject } from '../shared/jsonObject';
import type { ParametersEditor } from '../views/parametersEditor';

export interface JsonObjectQuestion {
  title: string;
  /** What the object holds, e.g. the handler's parameter hints. */
  prompt: string;
  /** Shown in the box to start from. */
  value: Record<string, unknown>;
  /** When given, the box has a button that opens the object in this editor instead. */
  editor?: { editor: ParametersEditor; name: string; onSubmit: (value: Record<string, unknown>) => void };
}

/** Asks for a JSON object; undefined when the user dismisses the box (or moves on to the document editor). */
export function askJsonObject(q: JsonObjectQuestion): Promise<Record<string, unknown> | undefined> {
  const box = vscode.window.createInputBox();
  box.title = q.title;
  box.prompt = q.prompt;
  box.value = Object.keys(q.value).length ? JSON.stringify(q.value) : '{}';
  box.valueSelection = [0, box.value.length];
  box.ignoreFocusOut = true;
  const editButton: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('json'), tooltip: 'Edit as a JSON document (save it to run)' };
  if (q.editor) box.buttons = [editButton];
  return new Promise((resolve) => {
    let settled = false;
    const finish = (v: Record<string, unknown> | undefined) => {
      if (settled) return;
      settled = true;
      resolve(v);
      box.dispose();
    };
    box.onDidChangeValue((v) => (box.validationMessage = parseJsonObject(v).error));
    box.onDidAccept(() => {
      const parsed = parseJsonObject(box.value);
      if (parsed.error) box.validationMessage = parsed.error;
      else finish(parsed.value);
    });
    box.onDidTriggerButton((b) => {
      if (b !== editButton || !q.editor) return;
      const parsed = parseJsonObject(box.value);
      const { editor, name, onSubmit } = q.editor;
      finish(undefined);
      void editor.open(name, parsed.value ?? q.value, onSubmit);
    });
    box.onDidHide(() => finish(undefined));
    box.show();
  });
}
