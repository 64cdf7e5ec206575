/**
 * The one duration and age syntax of every config section and flag.
 * Durations (`500ms`, `5s`, `2m`, `1h`, `1d`, `2w`, `1d12h`) and ages (`7y`, `18mo`, `90d`, `12h`, ISO 8601
 * `P2Y`, `PT12H`). Ages stay calendar-aware: PostgreSQL computes `now() - interval` itself (a year is
 * not 365 days), and MongoDB cutoffs use UTC calendar arithmetic, so both engines agree.
 */

const durationUnits: Record<string, number> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  // For fixed-length windows (prune's keep-within, RPO gates) a year is 365 days; ages below
  // stay calendar-aware.
  y: 365 * 86_400_000,
};

/**
 * `500ms`, `5s`, `1.5m`, `2h`, `1d`, `2w`, `1y`, groups such as `1d12h`, or a number of
 * milliseconds → milliseconds.
 */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new Error(`invalid duration ${input}`);
    return input;
  }
  const text = input.trim();
  const re = /(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h|d|w|y)/giy;
  let total = 0;
  let consumed = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * durationUnits[m[2]!.toLowerCase()]!;
    consumed = re.lastIndex;
  }
  if (text === '' || consumed !== text.length) {
    throw new Error(`invalid duration "${input}" (use e.g. 500ms, 5s, 2m, 1h, 1d, 2w, 1d12h)`);
  }
  return Math.round(total);
}

export function isDuration(input: unknown): boolean {
  try {
    parseDuration(input as string | number);
    return true;
  } catch {
    return false;
  }
}

export interface Age {
  years: number;
  months: number;
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
}

const ageUnits: Record<string, keyof Age> = {
  y: 'years',
  mo: 'months',
  w: 'days',
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
};

/** `7y`, `18mo`, `2w`, `90d`, `12h`, `30min`, `1y6mo`, or ISO 8601 `P2Y6M`, `PT12H`. */
export function parseAge(input: string): Age {
  const age: Age = { years: 0, months: 0, days: 0, hours: 0, minutes: 0, seconds: 0 };
  const text = input.trim();
  const iso = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/i.exec(
    text,
  );
  if (iso && text.length > 1 && !/T$/i.test(text)) {
    const n = (i: number) => Number(iso[i] ?? 0);
    Object.assign(age, {
      years: n(1),
      months: n(2),
      days: n(3) * 7 + n(4),
      hours: n(5),
      minutes: n(6),
      seconds: n(7),
    });
  } else {
    const re = /(\d+)\s*(y|mo|w|d|h|min|s)/giy;
    let consumed = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      const unit = m[2]!.toLowerCase();
      const field = ageUnits[unit]!;
      age[field] += Number(m[1]) * (unit === 'w' ? 7 : 1);
      consumed = re.lastIndex;
    }
    if (consumed === 0 || consumed !== text.length) {
      throw new Error(`invalid age "${input}" (use e.g. 7y, 18mo, 90d, 12h, 30min or ISO 8601 P2Y, PT12H)`);
    }
  }
  if (Object.values(age).every((v) => v === 0)) throw new Error(`age "${input}" is zero`);
  return age;
}

export function isAge(input: unknown): boolean {
  if (typeof input !== 'string') return false;
  try {
    parseAge(input);
    return true;
  } catch {
    return false;
  }
}

/** ISO 8601, which PostgreSQL's interval input accepts as is (passed as a parameter). */
export function ageToIsoInterval(age: Age): string {
  const date = `${age.years ? `${age.years}Y` : ''}${age.months ? `${age.months}M` : ''}${age.days ? `${age.days}D` : ''}`;
  const time = `${age.hours ? `${age.hours}H` : ''}${age.minutes ? `${age.minutes}M` : ''}${age.seconds ? `${age.seconds}S` : ''}`;
  return `P${date}${time ? `T${time}` : ''}`;
}

/** now − age in UTC calendar arithmetic (end-of-month clamps like PostgreSQL: Mar 31 − 1mo = Feb 28/29). */
export function cutoffFor(age: Age, now: Date): Date {
  const d = new Date(now.getTime());
  const totalMonths = age.years * 12 + age.months;
  if (totalMonths) {
    const day = d.getUTCDate();
    d.setUTCDate(1);
    d.setUTCMonth(d.getUTCMonth() - totalMonths);
    const lastDay = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
    d.setUTCDate(Math.min(day, lastDay));
  }
  d.setUTCDate(d.getUTCDate() - age.days);
  return new Date(d.getTime() - ((age.hours * 60 + age.minutes) * 60 + age.seconds) * 1000);
}

/** Approximate length, for estimates and "how far behind" displays only. */
export function ageApproxMs(age: Age): number {
  return (
    (((age.years * 365.2425 + age.months * 30.436875 + age.days) * 24 + age.hours) * 60 + age.minutes) *
      60_000 +
    age.seconds * 1000
  );
}
