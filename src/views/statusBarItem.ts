// The status-bar item as the first paint shows it: created by the entry (src/extension.ts) before anything
// else loads, then handed to the ThrottleIndicator, which renders the live figures into it. It imports only
// `vscode` and the ids, so the entry bundle stays small.
import * as vscode from 'vscode';
import { Commands, STATUS_BAR_ITEM } from '../shared/ids';

/** The item, shown as "starting" until the indicator takes it over. */
export function showStatusBarItem(): vscode.StatusBarItem {
  const item = vscode.window.createStatusBarItem(STATUS_BAR_ITEM, vscode.StatusBarAlignment.Left, 100);
  item.name = 'AIOS Throttle';
  item.command = Commands.showMetricsPanel;
  item.text = '$(sync~spin) AIOS · starting';
  item.accessibilityInformation = { label: 'AIOS starting: loading the middleware', role: 'button' };
  item.show();
  return item;
}
