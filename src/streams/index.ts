export * from './compress.js';
export * from './encrypt.js';
export * from './hash.js';
export * from './pipeline.js';
export { ChildProcessStage, type ChildProcessStageOptions } from './child-process-stage.js';
