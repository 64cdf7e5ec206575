import { describe, expect, it } from 'vitest';

import {
  isoWeek,
  parseDuration,
  selectPrune,
  type PruneCandidate,
} from '../../src/commands/backup/prune-policy.js';

/** One backup a day at 02:00 UTC through 2023, plus a second one at 14:00 on the 1st of each month. */
function yearOfBackups(): PruneCandidate[] {
  const out: PruneCandidate[] = [];
  for (
    let d = new Date(Date.UTC(2023, 0, 1, 2));
    d.getUTCFullYear() === 2023;
    d = new Date(d.getTime() + 86_400_000)
  ) {
    out.push({ id: d.toISOString(), time: d, verified: false });
    if (d.getUTCDate() === 1) {
      const noon = new Date(d.getTime() + 12 * 3_600_000);
      out.push({ id: noon.toISOString(), time: noon, verified: false });
    }
  }
  return out;
}

const NOW = new Date('2023-12-31T12:00:00Z');
const day = (iso: string) => `${iso}T02:00:00.000Z`;

describe('GFS prune selection over a year of daily backups', () => {
  const backups = yearOfBackups();
  const cases: { name: string; policy: Parameters<typeof selectPrune>[1]; kept: string[] }[] = [
    {
      name: 'keep-last 3',
      policy: { keepLast: 3 },
      kept: [day('2023-12-31'), day('2023-12-30'), day('2023-12-29')],
    },
    {
      name: 'keep-daily 3 takes the newest of each day (the 14:00 one on the 1st)',
      policy: { keepDaily: 3 },
      kept: [day('2023-12-31'), day('2023-12-30'), day('2023-12-29')],
    },
    {
      name: 'keep-weekly 4 takes each ISO week’s newest (Sundays)',
      policy: { keepWeekly: 4 },
      kept: [day('2023-12-31'), day('2023-12-24'), day('2023-12-17'), day('2023-12-10')],
    },
    {
      name: 'keep-monthly 12 takes each month’s last day',
      policy: { keepMonthly: 12 },
      kept: [
        '01-31',
        '02-28',
        '03-31',
        '04-30',
        '05-31',
        '06-30',
        '07-31',
        '08-31',
        '09-30',
        '10-31',
        '11-30',
        '12-31',
      ].map((md) => day(`2023-${md}`)),
    },
    { name: 'keep-yearly 5 with one year of data', policy: { keepYearly: 5 }, kept: [day('2023-12-31')] },
    {
      name: 'keep-within 3d',
      policy: { keepWithin: '3d' },
      kept: [day('2023-12-31'), day('2023-12-30'), day('2023-12-29')],
    },
    {
      name: 'daily 2 + weekly 2 + monthly 3 overlap into one set',
      policy: { keepDaily: 2, keepWeekly: 2, keepMonthly: 3 },
      kept: [day('2023-12-31'), day('2023-12-30'), day('2023-12-24'), day('2023-11-30'), day('2023-10-31')],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const decisions = selectPrune(backups, c.policy, NOW);
      expect(decisions).toHaveLength(backups.length);
      expect(
        decisions
          .filter((d) => d.keep)
          .map((d) => d.id)
          .sort(),
      ).toEqual([...c.kept].sort());
      for (const d of decisions) expect(d.keep).toBe(d.reasons.length > 0);
    });
  }

  it('keep-daily on the 1st keeps the 14:00 backup, not the 02:00 one', () => {
    const jan = backups.filter((b) => b.time < new Date('2023-01-02T00:00:00Z'));
    const kept = selectPrune(jan, { keepDaily: 1 }, NOW).filter((d) => d.keep);
    expect(kept.map((d) => d.id)).toEqual(['2023-01-01T14:00:00.000Z']);
  });

  it('orders by time, not by id', () => {
    const odd = [
      { id: 'zzz-old', time: new Date('2023-01-01T00:00:00Z'), verified: false },
      { id: 'aaa-new', time: new Date('2023-06-01T00:00:00Z'), verified: false },
    ];
    expect(
      selectPrune(odd, { keepLast: 1 }, NOW)
        .filter((d) => d.keep)
        .map((d) => d.id),
    ).toEqual(['aaa-new']);
  });

  it('never deletes the newest verified backup, whatever the policy', () => {
    const withVerified = backups.map((b) => ({ ...b, verified: b.id === day('2023-06-15') }));
    const kept = selectPrune(withVerified, { keepLast: 1 }, NOW).filter((d) => d.keep);
    expect(kept.map((d) => d.id).sort()).toEqual([day('2023-06-15'), day('2023-12-31')]);
    expect(kept.find((d) => d.id === day('2023-06-15'))!.reasons).toEqual(['newest verified backup']);
  });

  it('says why each kept backup is kept', () => {
    const d = selectPrune(backups, { keepLast: 1, keepDaily: 1, keepMonthly: 1 }, NOW).find((x) => x.keep)!;
    expect(d.reasons).toEqual(['last 1/1', 'daily 2023-12-31', 'monthly 2023-12', 'newest backup']);
  });

  it('refuses a policy without rules', () => {
    expect(() => selectPrune(backups, {}, NOW)).toThrow(/no retention rule/);
    expect(() => selectPrune(backups, { keepLast: 0 }, NOW)).toThrow(/no retention rule/);
  });
});

describe('prune helpers', () => {
  it.each([
    ['2023-01-01', '2022-W52'],
    ['2023-01-02', '2023-W01'],
    ['2020-12-31', '2020-W53'],
    ['2021-01-03', '2020-W53'],
    ['2024-12-30', '2025-W01'],
    ['2023-12-31', '2023-W52'],
  ])('ISO week of %s is %s', (date, week) => {
    expect(isoWeek(new Date(`${date}T12:00:00Z`))).toBe(week);
  });

  it('parses durations', () => {
    expect(parseDuration('7d')).toBe(7 * 86_400_000);
    expect(parseDuration('1d12h')).toBe(36 * 3_600_000);
    expect(parseDuration('2w')).toBe(14 * 86_400_000);
    expect(() => parseDuration('7 days')).toThrow(/invalid duration/);
    expect(() => parseDuration('')).toThrow(/invalid duration/);
  });
});
