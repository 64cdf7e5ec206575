import { describe, expect, it } from 'vitest';

import type { TocEntry } from '../../src/commands/backup/postgres/archive-offsets.js';
import { planEarlyTable, useListText } from '../../src/commands/backup/postgres/early-table.js';

// A TOC as pg_dump orders it: pre-data, data, post-data, then the ACLs. Section 1 is "none" (a
// comment or ACL: the section of the entry before it).
const e = (dumpId: number, desc: string, section: number, tag: string, deps: number[] = []): TocEntry => ({
  dumpId,
  desc,
  section,
  namespace: desc === 'ACL' ? null : 'public',
  tag,
  deps,
  hasData: desc === 'TABLE DATA',
});
const toc: TocEntry[] = [
  e(1, 'TABLE', 2, 'messages'),
  e(2, 'COMMENT', 1, 'TABLE messages', [1]),
  e(3, 'SEQUENCE', 2, 'messages_id_seq', [1]),
  e(4, 'TABLE', 2, 'users'),
  e(5, 'TABLE', 2, 'reactions'),
  e(6, 'VIEW', 2, 'recent', [1]),
  e(10, 'TABLE DATA', 3, 'messages', [1]),
  e(11, 'TABLE DATA', 3, 'users', [4]),
  e(12, 'TABLE DATA', 3, 'reactions', [5]),
  e(13, 'SEQUENCE SET', 3, 'messages_id_seq', [3]),
  e(20, 'CONSTRAINT', 4, 'messages messages_pkey', [1]),
  e(21, 'CONSTRAINT', 4, 'users users_pkey', [4]),
  e(22, 'INDEX', 4, 'messages_created_at_idx', [1]),
  e(23, 'INDEX', 4, 'reactions_user_idx', [5]),
  e(24, 'TRIGGER', 4, 'messages messages_touch', [1]),
  // reactions → messages: through messages' primary key, so it waits for messages' data.
  e(25, 'FK CONSTRAINT', 4, 'reactions reactions_message_fkey', [5, 20]),
  e(26, 'FK CONSTRAINT', 4, 'reactions reactions_user_fkey', [5, 21]),
  e(30, 'ACL', 1, 'TABLE messages', [1]),
  e(31, 'ACL', 1, 'TABLE users', [4]),
];
// Table sizes from the manifest (row counts in older backups): any weight of the same kind.
const rows = { 'public.messages': 9000, 'public.users': 500, 'public.reactions': 3000 };
const big = 64 * 2 ** 20;

describe('planEarlyTable', () => {
  it('restores the largest table first and holds back only what depends on it', () => {
    expect(planEarlyTable(toc, rows, big, 32 * 2 ** 20)).toEqual({
      table: 'public.messages',
      early: [10],
      // The other tables' data, their own keys and indexes, an ACL of theirs.
      rest: [11, 12, 21, 23, 26, 31],
      // messages' sequence value (its sequence is owned by the table), keys, indexes and
      // triggers, the foreign key into it, its ACL (after post-data: in that section).
      after: [13, 20, 22, 24, 25, 30],
      // None of those has data: the after step reads the TOC alone, and the spool can go.
      afterHasData: false,
    });
  });

  it('leaves the pre-data (restored before) out, comments and view included', () => {
    const plan = planEarlyTable(toc, rows, big, 0)!;
    const all = [...plan.early, ...plan.rest, ...plan.after];
    for (const id of [1, 2, 3, 4, 5, 6]) expect(all).not.toContain(id);
    expect(new Set(all).size).toBe(all.length);
  });

  it.each([
    ['no table sizes or row counts in the manifest', undefined, big],
    ['a small archive (the spool costs milliseconds)', rows, 1 << 20],
    ['no table with half of the whole', { ...rows, 'public.reactions': 8000, 'public.users': 2000 }, big],
    ['no rows at all', { 'public.messages': 0 }, big],
  ])('plans nothing for %s', (_what, counts, size) => {
    expect(planEarlyTable(toc, counts, size, 32 * 2 ** 20)).toBeUndefined();
  });

  it('finds dependants listed before what they depend on (a second pass)', () => {
    const shuffled = [...toc.filter((x) => x.dumpId !== 20), toc.find((x) => x.dumpId === 20)!];
    expect(planEarlyTable(shuffled, rows, big, 0)!.after).toEqual(expect.arrayContaining([20, 25]));
  });

  it('marks data that waits for the table (an inheritance child of it): the spool stays', () => {
    const child = [
      ...toc,
      e(40, 'TABLE', 2, 'messages_2023', [1]),
      e(41, 'TABLE DATA', 3, 'messages_2023', [40]),
    ];
    const plan = planEarlyTable(child, rows, big, 0)!;
    expect(plan.after).toContain(41);
    expect(plan.afterHasData).toBe(true);
  });

  it('writes a use-list pg_restore reads: one entry per line, in order', () => {
    expect(useListText([10, 3, 7])).toBe('10;\n3;\n7;\n');
  });
});
