export * from './config-check.js';
