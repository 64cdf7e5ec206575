/**
 * The entry of dist/cli/dbops.cjs (scripts/bundle.mjs): the whole command-line program as one
 * CommonJS file, which bin/dbops.cjs loads with V8's code cache (src/cli/code-cache.ts).
 */
export { main } from './main.js';
