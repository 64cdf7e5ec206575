export * from './find-tool.js';
export * from './run-tool.js';
export * from './search-path.js';
export * from './versions.js';
