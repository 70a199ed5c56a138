// The admission folder's public names: code outside it imports them from here.
export * from './adaptive';
export * from './admission';
export * from './admissionStrategy';
export * from './cluster';
export * from './types';
export * from './health';
