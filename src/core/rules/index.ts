// The rules folder's public names: code outside it imports them from here.
export * from './metrics';
export * from './engine';
export * from './parser';
