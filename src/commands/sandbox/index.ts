export * from './run-sandbox.js';
