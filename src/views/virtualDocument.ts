// Opening a virtual (read-only) document in a tab of its own, as the result, telemetry and batch documents do.
import * as vscode from 'vscode';

/** Opens `uri` (its provider supplies the text) not as a preview, in `language` when given. */
export async function showVirtualDocument(uri: vscode.Uri, language?: string): Promise<vscode.TextDocument> {
  let doc = await vscode.workspace.openTextDocument(uri);
  if (language) doc = await vscode.languages.setTextDocumentLanguage(doc, language);
  await vscode.window.showTextDocument(doc, { preview: false });
  return doc;
}
