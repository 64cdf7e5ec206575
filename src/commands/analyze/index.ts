export { analyzeRun, type AnalyzeOptions, type AnalyzeDeps } from './run-analyze.js';
export { explainRun, type ExplainOptions, type ExplainReport } from './explain/run-explain.js';
export { adviseRun, type AdviseOptions, type AdviseReport } from './advise/run-advise.js';
export { liveRun, type LiveOptions, type LiveReport } from './run-live.js';
export { catalogue, groups, type CheckInfo } from './catalogue.js';
export { readBaseline, writeBaseline, gate, type BaselineFile, type BaselineEntry } from './baseline.js';
export { renderSarif, renderJunit, renderMarkdown, renderGithub } from './render/index.js';
export type {
  AnalyzeReport,
  Finding,
  Severity,
  CheckRun,
  GateVerdict,
  ObservationWindow,
  SuppressedFinding,
} from './types.js';
