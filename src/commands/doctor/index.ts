export * from './run-doctor.js';
export type * from './types.js';
