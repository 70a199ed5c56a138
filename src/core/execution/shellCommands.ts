// Shell programs as command types: the definitions people write in `.aios/commands.json` (workspace) and the
// `aios.shellCommands` setting (user), checked and compiled into the executor's ShellCommandSpec.
//
// An argument may hold `${name}` placeholders filled from the request's parameters. A placeholder is text
// inside one argument: whatever its value, that argument stays one argument (never split, never given to a
// shell). `$${` writes a literal `${`.
import { isAbsolute, join, resolve } from 'node:path';
import type { ShellCommandSpec } from './executors';
import { CommandFailure, PRIORITIES, type Priority } from '../types';
import { RequestError, validateRequest } from '../pipeline';
import { jsonSyntaxProblem } from '../../shared/jsonObject';

/** What a person writes for one command type. */
export interface ShellCommandDefinition {
  /** The program: a name looked up on PATH, or a path (relative ones from the command's folder). */
  file: string;
  args?: string[];
  /** Working folder; relative to the workspace folder (commands.json) or the first workspace folder (settings). */
  cwd?: string;
  /** Added to the inherited environment. Never logged or recorded. */
  env?: Record<string, string>;
  /** Stopped (with everything it started) and failed with 'timeout' after this long; 0 or absent: no limit. */
  timeoutMs?: number;
  /** The priority a request of this type gets when it names none. */
  priority?: Priority;
  description?: string;
}

/** Where a definition came from, for messages and the Run Command list. */
export type ShellCommandOrigin = 'workspace' | 'user';

/** A checked definition, compiled: `spec` is what the executor runs. */
export interface ShellCommandType {
  readonly commandType: string;
  readonly origin: ShellCommandOrigin;
  readonly description?: string;
  readonly priority?: Priority;
  /** Parameter names its placeholders need, in order of first use. */
  readonly placeholders: readonly string[];
  readonly spec: ShellCommandSpec;
}

export interface ParsedShellCommands {
  commands: ShellCommandType[];
  /** Person-readable problems, each naming the source, the command type and the field. */
  errors: string[];
}

const EXAMPLE = '{"BUILD": {"file": "npm", "args": ["run", "build"]}}';
const notCommandTypes = (source: string, raw: unknown): string => `${source} must be an object of command types, like ${EXAMPLE} (got ${describeValue(raw)})`;
export const SHELL_COMMAND_FIELDS = new Set(['file', 'args', 'cwd', 'env', 'timeoutMs', 'priority', 'description']);
/** Types the extension itself records under these prefixes: a shell command must not pose as one. */
export const RESERVED_PREFIXES = ['CONTROL:', 'TERMINAL:'];
export const MAX_TIMEOUT_MS = 24 * 3600 * 1000;
const PLACEHOLDER = /\$(\$?)\{([^}]*)\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

type Part = string | { name: string };

/** Splits an argument into literal text and placeholders; throws on a malformed `${…}`. */
function compileTemplate(arg: string): Part[] {
  const parts: Part[] = [];
  let last = 0;
  let literal = '';
  for (const m of arg.matchAll(PLACEHOLDER)) {
    literal += arg.slice(last, m.index);
    last = m.index + m[0].length;
    if (m[1] === '$') {
      literal += `\${${m[2]}}`;
      continue;
    }
    if (!NAME.test(m[2])) throw new Error(`'${m[0]}' is not a placeholder: a name is letters, digits and _ . - (write $\${ for a literal \${)`);
    if (literal) parts.push(literal);
    literal = '';
    parts.push({ name: m[2] });
  }
  literal += arg.slice(last);
  if (literal || parts.length === 0) parts.push(literal);
  return parts;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  return Array.isArray(v) ? 'an array' : typeof v;
}

/** The text one placeholder becomes: strings as they are, numbers and booleans as JSON writes them. */
function placeholderText(commandType: string, name: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new CommandFailure(
    'invalid_request',
    `Parameter '${name}' of '${commandType}' must be a string, number or boolean to fill \${${name}} (got ${describeValue(value)})`,
  );
}

/**
 * The args function of a spec: fixed arguments are reused as they are, templated ones are filled per
 * request. A missing parameter is `invalid_request` naming it.
 */
export function argumentBuilder(commandType: string, args: readonly string[]): { build: ShellCommandSpec['args']; placeholders: string[] } {
  const compiled = args.map((a, i) => {
    try {
      return compileTemplate(a);
    } catch (e) {
      throw new Error(`argument ${i + 1} (${JSON.stringify(a)}): ${(e as Error).message}`, { cause: e });
    }
  });
  const placeholders = [...new Set(compiled.flatMap((parts) => parts.flatMap((p) => (typeof p === 'string' ? [] : [p.name]))))];
  const fixed = compiled.map((parts) => (parts.length === 1 && typeof parts[0] === 'string' ? parts[0] : undefined));
  if (placeholders.length === 0) return { build: Object.freeze(fixed as string[]), placeholders };
  const build = (parameters: Readonly<Record<string, unknown>>): string[] =>
    compiled.map((parts, i) => {
      if (fixed[i] !== undefined) return fixed[i];
      let out = '';
      for (const p of parts) {
        if (typeof p === 'string') {
          out += p;
          continue;
        }
        if (!Object.prototype.hasOwnProperty.call(parameters, p.name) || parameters[p.name] === undefined) {
          const given = Object.keys(parameters);
          throw new CommandFailure(
            'invalid_request',
            `'${commandType}' needs the parameter '${p.name}' (for \${${p.name}} in argument ${i + 1}); the request's parameters have ${
              given.length ? given.map((k) => `'${k}'`).join(', ') : 'none'
            }`,
          );
        }
        out += placeholderText(commandType, p.name, parameters[p.name]);
      }
      return out;
    });
  return { build, placeholders };
}

/**
 * Checks the definitions in `raw` (an object of command type → definition; a `$schema` key is allowed) and
 * compiles the good ones. `source` names where they came from in messages (".aios/commands.json",
 * "aios.shellCommands"); `baseDir` resolves relative cwd (undefined: relative cwd is an error).
 * Messages never contain env values.
 */
export function parseShellCommands(raw: unknown, source: string, origin: ShellCommandOrigin, baseDir: string | undefined): ParsedShellCommands {
  const commands: ShellCommandType[] = [];
  const errors: string[] = [];
  if (raw === undefined || raw === null) return { commands, errors };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    errors.push(notCommandTypes(source, raw));
    return { commands, errors };
  }
  for (const [commandType, def] of Object.entries(raw as Record<string, unknown>)) {
    if (commandType === '$schema') continue;
    const where = `${source}: '${commandType}'`;
    try {
      commands.push(parseOne(commandType, def, origin, baseDir));
    } catch (e) {
      errors.push(`${where}: ${(e as Error).message}`);
    }
  }
  return { commands, errors };
}

function parseOne(commandType: string, def: unknown, origin: ShellCommandOrigin, baseDir: string | undefined): ShellCommandType {
  try {
    validateRequest({ commandType }, 0);
  } catch (e) {
    if (e instanceof RequestError) throw new Error(`not a valid command type: ${e.message.replace(/ \(got .*\)$/, '')}`, { cause: e });
    throw e;
  }
  const reserved = RESERVED_PREFIXES.find((p) => commandType.toUpperCase().startsWith(p));
  if (reserved) throw new Error(`command types starting with ${reserved} are the extension's own`);
  if (typeof def !== 'object' || def === null || Array.isArray(def))
    throw new Error(`must be an object like {"file": "npm", "args": ["test"]} (got ${describeValue(def)})`);
  const d = def as Record<string, unknown>;
  const unknown = Object.keys(d).filter((k) => !SHELL_COMMAND_FIELDS.has(k));
  if (unknown.length)
    throw new Error(
      `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${[...SHELL_COMMAND_FIELDS].join(', ')})`,
    );
  if (typeof d.file !== 'string' || d.file.trim() === '') throw new Error(`'file' must name a program, like "npm" or "/usr/bin/make"`);
  const args = d.args ?? [];
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) throw new Error(`'args' must be a list of strings`);
  let cwd: string | undefined;
  if (d.cwd !== undefined) {
    if (typeof d.cwd !== 'string' || d.cwd === '') throw new Error(`'cwd' must be a folder path`);
    if (isAbsolute(d.cwd)) cwd = d.cwd;
    else if (baseDir !== undefined) cwd = resolve(baseDir, d.cwd);
    else throw new Error(`'cwd' is relative (${JSON.stringify(d.cwd)}) but no workspace folder is open; use an absolute path`);
  } else {
    cwd = baseDir;
  }
  if (d.env !== undefined) {
    if (typeof d.env !== 'object' || d.env === null || Array.isArray(d.env)) throw new Error(`'env' must be an object of names to string values`);
    // Names only in the message: values may be secrets.
    const bad = Object.entries(d.env as Record<string, unknown>).filter(([, v]) => typeof v !== 'string');
    if (bad.length) throw new Error(`'env' values must be strings (not: ${bad.map(([k]) => k).join(', ')})`);
  }
  if (d.timeoutMs !== undefined && (typeof d.timeoutMs !== 'number' || !Number.isInteger(d.timeoutMs) || d.timeoutMs < 0 || d.timeoutMs > MAX_TIMEOUT_MS)) {
    throw new Error(`'timeoutMs' must be a whole number of milliseconds from 0 (no limit) to ${MAX_TIMEOUT_MS}`);
  }
  if (d.priority !== undefined && !PRIORITIES.includes(d.priority as Priority)) throw new Error(`'priority' must be HIGH, NORMAL or LOW`);
  if (d.description !== undefined && typeof d.description !== 'string') throw new Error(`'description' must be a string`);
  let built: ReturnType<typeof argumentBuilder>;
  try {
    built = argumentBuilder(commandType, args as string[]);
  } catch (e) {
    throw new Error(`'args' ${(e as Error).message}`, { cause: e });
  }
  const spec: ShellCommandSpec = {
    file: d.file,
    args: built.build,
    ...(cwd !== undefined ? { cwd } : {}),
    ...(d.env !== undefined ? { env: Object.freeze({ ...(d.env as Record<string, string>) }) } : {}),
    ...(d.timeoutMs ? { timeoutMs: d.timeoutMs } : {}),
  };
  return Object.freeze({
    commandType,
    origin,
    placeholders: built.placeholders,
    spec: Object.freeze(spec),
    ...(d.description !== undefined ? { description: d.description } : {}),
    ...(d.priority !== undefined ? { priority: d.priority as Priority } : {}),
  });
}

/**
 * The command types in force: the workspace's first, then the user's; a user definition with the same
 * name as a workspace one is reported and the workspace's kept (it is the more specific).
 */
export function mergeShellCommands(
  workspace: readonly ShellCommandType[],
  user: readonly ShellCommandType[],
): { commands: Map<string, ShellCommandType>; errors: string[] } {
  const commands = new Map<string, ShellCommandType>();
  const errors: string[] = [];
  for (const c of workspace) commands.set(c.commandType, c);
  for (const c of user) {
    if (commands.has(c.commandType))
      errors.push(`aios.shellCommands: '${c.commandType}' is also defined in .aios/commands.json; the workspace's definition is used`);
    else commands.set(c.commandType, c);
  }
  return { commands, errors };
}

export const WORKSPACE_COMMANDS_FILE = '.aios/commands.json';

export interface WorkspaceCommands extends ParsedShellCommands {
  /** True when the file exists but was not read because the workspace is not trusted. */
  skippedUntrusted: boolean;
}

/**
 * The workspace's `.aios/commands.json`, read only when `trusted` (an untrusted workspace must not choose
 * programs that run on this machine: then the file is not even read, only its presence is noted).
 * `read` returns undefined when the file does not exist; `exists` is asked only when untrusted.
 */
export async function readWorkspaceCommands(
  folder: string | undefined,
  trusted: boolean,
  io: { read(path: string): Promise<string | undefined>; exists(path: string): Promise<boolean> },
): Promise<WorkspaceCommands> {
  const none = { commands: [], errors: [], skippedUntrusted: false };
  if (folder === undefined) return none;
  const path = join(folder, WORKSPACE_COMMANDS_FILE);
  if (!trusted) return { ...none, skippedUntrusted: await io.exists(path) };
  let text: string | undefined;
  try {
    text = await io.read(path);
  } catch (e) {
    return { ...none, errors: [`${WORKSPACE_COMMANDS_FILE} could not be read: ${(e as Error).message}`] };
  }
  if (text === undefined) return none;
  text = text.replace(/^\uFEFF/, ''); // a byte-order mark some Windows editors write
  if (text.trim() === '') return { ...none, errors: [`${WORKSPACE_COMMANDS_FILE} is empty: write an object of command types, like ${EXAMPLE}`] };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ...none, errors: [`${WORKSPACE_COMMANDS_FILE} is not valid JSON: ${jsonSyntaxProblem(text, e)}; none of its command types is loaded`] };
  }
  // null is "not set" for the setting, but a file that says null is a mistake.
  if (raw === null) return { ...none, errors: [notCommandTypes(WORKSPACE_COMMANDS_FILE, raw)] };
  return { ...parseShellCommands(raw, WORKSPACE_COMMANDS_FILE, 'workspace', folder), skippedUntrusted: false };
}
