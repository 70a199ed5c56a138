// A tasks.json entry of type `aios`, checked when VS Code resolves it (no vscode import, so it is unit-tested
// in plain Node): one message naming tasks.json, the task and what is wrong. A malformed entry runs nothing
// and says so in its terminal; the other tasks are unaffected.
import { RequestError, show, validateRequest, type Priority } from '../core';

export const TASK_TYPE = 'aios';

/** Structurally a vscode.TaskDefinition. */
export interface AiosTaskDefinition {
  readonly type: string;
  commandType: string;
  parameters?: Record<string, unknown>;
  priority?: Priority;
  [field: string]: unknown;
}

/** What is wrong with a definition, naming tasks.json and the task (its label); undefined when it can run. */
export function taskDefinitionProblem(definition: Readonly<Record<string, unknown>>, label: string | undefined): string | undefined {
  const where = `tasks.json: the aios task${label ? ` ${show(label)}` : ''}`;
  const { commandType, priority, parameters } = definition;
  if (typeof commandType !== 'string' || commandType === '') {
    return `${where} needs "commandType", the AIOS command type to run, like "ECHO" or a shell command type (got ${commandType === undefined ? 'none' : show(commandType)})`;
  }
  try {
    // The pipeline's own checks (it would refuse the same when the task runs): names and bounds stay one.
    validateRequest({ commandType, priority, parameters }, Number.MAX_SAFE_INTEGER);
  } catch (e) {
    if (e instanceof RequestError) return `${where}: ${e.message}`;
    throw e;
  }
  return undefined;
}
