// The cluster folder's public names: code outside it imports them from here.
export * from './connection';
export * from './scripts';
export * from './sharedLimit';
