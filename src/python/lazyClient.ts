// Loads clientLib.ts on first use. esbuild keeps a dynamically imported module's code in the bundle but runs it
// only when the import happens, so nothing of the language client is evaluated at activation.
import type * as ClientLib from './clientLib';

let lib: typeof ClientLib | undefined;
let loading: Promise<typeof ClientLib> | undefined;

export function loadClientLib(): Promise<typeof ClientLib> {
  return (loading ??= import('./clientLib').then((m) => (lib = m)));
}

/** The loaded library. Everything that calls it runs after a service process started, which loaded it. */
export function clientLib(): typeof ClientLib {
  if (!lib) throw new Error('internal: the language client is used before the Python service first started');
  return lib;
}
