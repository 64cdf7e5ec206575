export type { SandboxInfo, SandboxOptions } from './cluster.js';
export { sandboxDown, sandboxStatus, sandboxUp, withSandbox } from './cluster.js';
export { sandboxConfigYaml } from './config-file.js';
export type { SeedDemoOptions, SeedDemoResult } from './seed-demo.js';
export { DEMO_TABLES, seedDemo } from './seed-demo.js';
export type { ServerBinaries } from './server-binaries.js';
export { findServerBinaries } from './server-binaries.js';
