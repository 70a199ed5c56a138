// The Python service's environment, shared by the supervisor, the protocol tests and the bench, so all three
// start the service the same way. No vscode import.

/**
 * The extension host's environment plus:
 * - PYTHONPATH with the service's folder first, so nothing else can shadow its modules;
 * - unbuffered UTF-8 standard streams (stderr carries the service's log lines).
 */
export function serviceEnvironment(base: NodeJS.ProcessEnv, pythonDir: string, platform: NodeJS.Platform = process.platform): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  // Windows variable names are case-insensitive: match `PythonPath`-style spellings too, so no duplicate is
  // passed on to the child.
  const keyOf = (name: string) => (platform === 'win32' ? Object.keys(env).find((k) => k.toUpperCase() === name) : undefined) ?? name;
  const set = (name: string, value: string) => {
    delete env[keyOf(name)];
    env[name] = value;
  };
  const inherited = env[keyOf('PYTHONPATH')];
  set('PYTHONPATH', [pythonDir, inherited].filter(Boolean).join(platform === 'win32' ? ';' : ':'));
  set('PYTHONUNBUFFERED', '1');
  set('PYTHONIOENCODING', 'utf-8');
  return env;
}
