export { renderSarif, fingerprint } from './sarif.js';
export { renderJunit, xmlEscape } from './junit.js';
export { renderMarkdown } from './markdown.js';
export { renderGithub } from './github.js';
export type { FindingsReport } from './report-shape.js';
