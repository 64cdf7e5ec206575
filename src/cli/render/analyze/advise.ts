import type { AdviseReport } from '../../../commands/analyze/advise/run-advise.js';
import { colours } from '../colour.js';
import { table } from '../table.js';
import { checkNotes, verdictLine } from './table.js';

export function renderAdviseTable(r: AdviseReport, color: boolean): string {
  const c = colours(color);
  const mark = { proven: c.green('proven'), rejected: c.dim('rejected'), unproven: c.yellow('unproven') };
  const lines = [
    c.bold(`dbops analyze advise — ${r.target} ${r.where}`),
    c.dim(
      `${r.sources.length} queries; HypoPG ${r.hypopg.installed ? r.hypopg.version : 'not installed'}${r.hypopg.installed && !r.hypopg.canHide ? ' (no hypopg_hide_index: drops unproven)' : ''}`,
    ),
    '',
  ];
  if (r.candidates.length) {
    lines.push(
      table(
        ['status', 'index', 'evidence'],
        r.candidates
          .sort(
            (a, b) =>
              ['proven', 'unproven', 'rejected'].indexOf(a.status) -
              ['proven', 'unproven', 'rejected'].indexOf(b.status),
          )
          .map((x) => [
            mark[x.status],
            x.definition,
            [
              x.reason,
              ...x.proofs.map(
                (p) =>
                  `${p.query}: ${p.before.toFixed(1)} → ${p.after.toFixed(1)} (−${p.savingPct.toFixed(1)} %)${p.used ? '' : ' not used'}`,
              ),
            ].join('\n'),
          ]),
      ),
    );
  } else lines.push(c.dim('no index candidates'));
  if (r.drops.length) {
    lines.push(
      '',
      table(
        ['status', 'drop', 'evidence'],
        r.drops.map((d) => [mark[d.status], d.index, d.reason]),
      ),
    );
  }
  const failed = r.sources.filter((s) => s.error);
  if (failed.length) lines.push('', ...failed.map((s) => c.red(`${s.name}: ${s.error}`)));
  const cheap = r.sources.filter((s) => s.skipped).length;
  if (cheap) lines.push('', c.dim(`${cheap} queries below analyze.advise.minQueryCost were not considered`));
  const notes = checkNotes(r.checks, color);
  if (notes.length) lines.push('', ...notes);
  lines.push('', verdictLine(r.verdict, r.findings, color));
  return lines.join('\n');
}
