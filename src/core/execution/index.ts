// The execution folder's public names: code outside it imports them from here.
export * from './batch';
export * from './executors';
export * from './processTree';
export * from './router';
export * from './shellCommands';
export * from './terminalCommands';
