import type { LiveReport } from '../../../commands/analyze/run-live.js';
import { colours } from '../colour.js';
import { table } from '../table.js';
import { checkNotes, findingsTable, verdictLine } from './table.js';

const secs = (n: number | null) => (n === null ? '' : `${Math.round(n)} s`);
const short = (q: string | null) => (q ?? '').replace(/\s+/g, ' ').trim().slice(0, 120);

export function renderLiveTable(r: LiveReport, color: boolean): string {
  const c = colours(color);
  const lines = [c.bold(`dbops analyze ${r.kind} — ${r.target} ${r.where}`), ''];
  if (r.kind === 'activity') {
    lines.push(
      r.sessions.length
        ? table(
            ['pid', 'user', 'application', 'state', 'wait', 'query for', 'xact for', 'blocked by', 'query'],
            r.sessions.map((s) => [
              s.pid,
              s.user,
              s.application,
              s.state,
              s.wait_event_type ? `${s.wait_event_type}/${s.wait_event}` : '',
              secs(s.query_seconds),
              secs(s.xact_seconds),
              s.blocked_by.join(', '),
              short(s.query),
            ]),
          )
        : c.dim('no other sessions on this database'),
    );
  } else {
    lines.push(
      r.chains.length
        ? table(
            [
              'blocked pid',
              'waiting',
              'blocked query',
              'blocked by',
              'blocker state',
              'blocker query',
              'root',
            ],
            r.chains.map((ch) => [
              ch.pid,
              secs(ch.waitingSeconds),
              ch.query,
              ch.blockedBy.map((b) => b.pid).join('\n'),
              ch.blockedBy.map((b) => b.state ?? '').join('\n'),
              ch.blockedBy.map((b) => b.query).join('\n'),
              ch.rootBlockers.join(', '),
            ]),
          )
        : c.green('no blocked sessions'),
    );
  }
  lines.push('');
  if (r.findings.length) lines.push(findingsTable(r.findings, color), '');
  const notes = checkNotes(r.checks, color);
  if (notes.length) lines.push(...notes, '');
  lines.push(verdictLine(r.verdict, r.findings, color));
  return lines.join('\n');
}
