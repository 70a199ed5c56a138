// Public API of the middleware core. Plain Node: no `vscode` import anywhere under src/core (a lint rule holds
// it). Each folder is one job with its own barrel; code outside src/core imports from here or a folder's barrel.
export * from './types';
export * from './errors';
export * from './clock';
export * from './config';
export * from './abort';
export * from './listeners';
export * from './numbers';
export * from './pipeline';
export * from './admission';
export * from './telemetry';
export * from './execution';
export * from './rules';
export * from './system';
export * from './learning';
