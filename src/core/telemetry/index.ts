// The telemetry folder's public names: code outside it imports them from here.
export * from './exportFile';
export * from './histogram';
export * from './redact';
export * from './stats';
export * from './snapshots';
export * from './sources';
export * from './storage';
export * from './telemetry';
