import type { Faker, Randomizer } from '@faker-js/faker';
import { faker as fakerEn } from '@faker-js/faker/locale/en';

import type { FakeKind } from '../../config/sections/anonymize.js';

/**
 * Realistic replacement values. The generator is re-seeded from the keyed seed of each value, so
 * a fake is a pure function of (key, input): deterministic with a secret, and independent of the
 * order rows arrive in. The reference date is fixed so dates of birth do not drift day by day.
 */
let instance: Faker | undefined;

/**
 * faker's default Mersenne Twister costs ~150 µs to re-seed, which made re-seeding per value the
 * bottleneck of a masked copy (≈6k fakes/s). sfc32 seeded straight from the 128-bit keyed seed
 * costs nothing to re-seed and is plenty random for fake names.
 */
function sfc32Randomizer(): Randomizer {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  return {
    next,
    seed(seed: number | number[]) {
      const s = Array.isArray(seed) ? seed : [seed, 0, 0, 0];
      [a, b, c, d] = [s[0] ?? 0, s[1] ?? 0, s[2] ?? 0, s[3] ?? 1];
      for (let i = 0; i < 12; i++) next();
    },
  };
}

function faker(): Faker {
  if (!instance) {
    // The package root imports every locale (~1 s of start-up on a busy machine, most of a subject
    // erasure's time); the `locale/en` entry loads only en + base, and the class comes from its
    // instance. The definitions are en with base as fallback: identical values for every kind.
    const FakerClass = fakerEn.constructor as typeof Faker;
    instance = new FakerClass({ locale: [fakerEn.rawDefinitions], randomizer: sfc32Randomizer() });
    instance.setDefaultRefDate(new Date('2024-01-01T00:00:00Z'));
  }
  return instance;
}

/**
 * Fakes come from a pool per kind, picked by the keyed seed: generating with faker costs ~6 µs a
 * value (three per users row were a third of a masked copy's CPU), a pool lookup nothing. The pool
 * is generated from fixed seeds, so it holds no secret and no input data; which entry a value gets
 * is the keyed part, so the mapping stays a deterministic function of (key, input). Kinds where
 * variety matters more than realism (uuid, ip, ipv6) are computed from the seed directly.
 */
const POOL_SIZE = 8192;
const pools = new Map<FakeKind, (string | undefined)[]>();

/**
 * Entry i of a pool is a pure function of (kind, i) — faker is re-seeded for each — so entries
 * are generated on first use: an erasure touching four values costs four generations, not
 * 4 × 8192 (~1 s), and a large copy fills the pool within its first few thousand rows.
 */
function poolEntry(kind: FakeKind, index: number): string {
  let p = pools.get(kind);
  if (!p) {
    p = new Array<string | undefined>(POOL_SIZE).fill(undefined);
    pools.set(kind, p);
  }
  let v = p[index];
  if (v === undefined) {
    const f = faker();
    f.seed([0x64626f70, index, 0x616e6f6e, kind.length]);
    v = generate(f, kind);
    p[index] = v;
  }
  return v;
}

export function fakeValue(kind: FakeKind, seed: Buffer): string {
  switch (kind) {
    case 'uuid': {
      const h = seed.toString('hex', 0, 16);
      const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    }
    case 'ip':
      return `${1 + (seed[0]! % 223)}.${seed[1]!}.${seed[2]!}.${1 + (seed[3]! % 254)}`;
    case 'ipv6': {
      const h = seed.toString('hex', 0, 16);
      return Array.from({ length: 8 }, (_, i) => h.slice(i * 4, i * 4 + 4).replace(/^0+(?=.)/, '')).join(':');
    }
    default:
      return poolEntry(kind, seed.readUInt32BE(0) % POOL_SIZE);
  }
}

function generate(f: Faker, kind: FakeKind): string {
  switch (kind) {
    case 'email':
      // example.com/.org/.net only: a staging copy must never mail a real domain.
      return f.internet.exampleEmail().toLowerCase();
    case 'name':
      return f.person.fullName();
    case 'first-name':
      return f.person.firstName();
    case 'last-name':
      return f.person.lastName();
    case 'username':
      return f.internet.username().toLowerCase();
    case 'phone':
      return f.phone.number({ style: 'international' });
    case 'address':
      return f.location.streetAddress();
    case 'city':
      return f.location.city();
    case 'country':
      return f.location.countryCode('alpha-2');
    case 'company':
      return f.company.name();
    case 'ip':
      return f.internet.ipv4();
    case 'ipv6':
      return f.internet.ipv6();
    case 'url':
      return f.internet.url();
    case 'text':
      return f.lorem.sentence();
    case 'word':
      return f.lorem.word();
    case 'date-of-birth':
      return f.date.birthdate({ mode: 'age', min: 18, max: 90 }).toISOString().slice(0, 10);
    case 'uuid':
      return f.string.uuid();
  }
}
