// The learning folder's public names: code outside it imports them from here.
export * from './attach';
export * from './knee';
export * from './model';
export * from './predictions';
export * from './scoring';
export * from './simulator';
export * from './sketch';
export * from './tuner';
export * from './workload';
