// The system folder's public names: code outside it imports them from here.
export * from './sampler';
