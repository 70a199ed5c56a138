// The pipeline folder's public names: code outside it imports them from here.
export * from './flight';
export * from './glob';
export * from './pipeline';
export * from './reportSections';
export * from './security';
export * from './validation';
