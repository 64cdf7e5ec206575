import pg from '../connections/postgres/pg.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';

export interface SeedDemoOptions {
  /** Number of chat messages; default 100 000. Every other table is sized from it. */
  messages?: number;
  /** Number of users; default messages / 50, at least 100. */
  users?: number;
  /** Same seed (and same `now`) → same rows. Default 42. */
  seed?: number;
  /** The instant "now" for generated timestamps; default the current time. */
  now?: Date;
  /** Drop the demo tables first if they exist (otherwise an existing table is an error). */
  replace?: boolean;
  logger?: Logger;
}

export interface SeedDemoResult {
  tables: Record<string, number>;
}

/** The demo tables, parents first (the order rows are generated and counted in). */
export const DEMO_TABLES = [
  'users',
  'rooms',
  'room_members',
  'messages',
  'user_relationships',
  'user_sessions',
  'audit_log',
] as const;

const FIRST_NAMES = [
  'Alice', 'Bob', 'Carla', 'David', 'Elena', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemal', 'Lena', 'Mateo',
  'Nadia', 'Oscar', 'Priya', 'Quentin', 'Rosa', 'Samir', 'Tara', 'Umar', 'Vera', 'Wei', 'Ximena', 'Yusuf', 'Zoe',
]; // prettier-ignore
const LAST_NAMES = [
  'Andersen', 'Bianchi', 'Costa', 'Dubois', 'Eriksson', 'Fischer', 'Garcia', 'Horvat', 'Ivanova', 'Jansen', 'Kowalski',
  'Lopez', 'Moreau', 'Novak', 'Okafor', 'Petrov', 'Quinn', 'Rossi', 'Schmidt', 'Tanaka', 'Usman', 'Virtanen', 'Weber',
]; // prettier-ignore
const EMAIL_DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example', 'chat.example'];
const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'ES', 'IT', 'NL', 'PL', 'SE', 'BR', 'IN', 'JP', 'NG', 'CA', 'AU'];
const ROOM_WORDS = [
  'general',
  'random',
  'dev',
  'ops',
  'design',
  'sales',
  'support',
  'music',
  'games',
  'books',
];
const SENTENCES = [
  'Hey, how is everyone doing?', 'Did you see the deploy this morning?', 'Lunch at noon?', 'Sounds good to me.',
  'I will look into it after the standup.', 'Can someone review my pull request?', 'The build is green again.',
  'Thanks, that fixed it!', 'Who is on call this weekend?', 'Meeting moved to 3pm.', 'Great work, team.',
  'I think the index on created_at is missing.', 'Backups finished at 02:14.', 'Any plans for Friday?',
  'Let me check the logs.', 'Here is the link to the doc.', 'Coffee break?', 'The dashboard looks slow today.',
  'Shipping it now.', 'Can we talk tomorrow?', 'Happy birthday!', 'Welcome to the channel!', 'lol', 'ok',
]; // prettier-ignore
const ATTACHMENT_KINDS = ['image', 'video', 'file', 'audio'];
const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'ChatApp/5.2.1 (iPhone; iOS 17.4)',
  'ChatApp/5.2.0 (Android 14; Pixel 8)',
];
const AUDIT_ACTIONS = [
  'user.login', 'user.logout', 'user.update', 'user.export', 'user.delete', 'room.create', 'room.update',
  'room.join', 'room.leave', 'message.edit', 'message.delete', 'message.report',
]; // prettier-ignore

const YEAR_SECONDS = 31_557_600; // 365.25 days

const DDL = `
CREATE TABLE users (
  id bigserial PRIMARY KEY,
  email text NOT NULL,
  username text NOT NULL,
  display_name text NOT NULL,
  phone text,
  date_of_birth date,
  country char(2),
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz,
  settings jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE rooms (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  is_private boolean NOT NULL DEFAULT false,
  created_by bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE room_members (
  room_id bigint NOT NULL,
  user_id bigint NOT NULL,
  role text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
  joined_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (room_id, user_id)
);
CREATE TABLE messages (
  id bigserial PRIMARY KEY,
  room_id bigint NOT NULL,
  user_id bigint NOT NULL,
  body text NOT NULL,
  attachments jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  edited_at timestamptz
);
CREATE TABLE user_relationships (
  from_user_id bigint NOT NULL,
  to_user_id bigint NOT NULL,
  kind text NOT NULL CHECK (kind IN ('friend', 'block')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (from_user_id, to_user_id),
  CHECK (from_user_id <> to_user_id)
);
CREATE TABLE user_sessions (
  id uuid PRIMARY KEY,
  user_id bigint NOT NULL,
  ip inet,
  user_agent text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  actor_user_id bigint,
  action text NOT NULL,
  entity text NOT NULL,
  entity_id bigint,
  details jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
`;

/*
 * Constraints and indexes come after the bulk load: building them once is several times faster
 * than maintaining them row by row. audit_log.actor_user_id deliberately has no foreign key:
 * audit trails outlive the users they mention.
 */
const CONSTRAINTS_AND_INDEXES = `
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email),
  ADD CONSTRAINT users_username_key UNIQUE (username);
ALTER TABLE rooms ADD CONSTRAINT rooms_created_by_fkey FOREIGN KEY (created_by) REFERENCES users (id);
ALTER TABLE room_members
  ADD CONSTRAINT room_members_room_id_fkey FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
  ADD CONSTRAINT room_members_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE messages
  ADD CONSTRAINT messages_room_id_fkey FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
  ADD CONSTRAINT messages_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE user_relationships
  ADD CONSTRAINT user_relationships_from_user_id_fkey FOREIGN KEY (from_user_id) REFERENCES users (id) ON DELETE CASCADE,
  ADD CONSTRAINT user_relationships_to_user_id_fkey FOREIGN KEY (to_user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE user_sessions
  ADD CONSTRAINT user_sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX users_last_seen_at_idx ON users (last_seen_at);
CREATE INDEX rooms_created_by_idx ON rooms (created_by);
CREATE INDEX room_members_user_id_idx ON room_members (user_id);
CREATE INDEX messages_room_id_created_at_idx ON messages (room_id, created_at);
CREATE INDEX messages_user_id_idx ON messages (user_id);
CREATE INDEX messages_created_at_idx ON messages (created_at);
CREATE INDEX user_relationships_to_user_id_idx ON user_relationships (to_user_id);
CREATE INDEX user_sessions_user_id_idx ON user_sessions (user_id);
CREATE INDEX user_sessions_expires_at_idx ON user_sessions (expires_at);
CREATE INDEX audit_log_created_at_idx ON audit_log (created_at);
CREATE INDEX audit_log_actor_user_id_idx ON audit_log (actor_user_id);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id);
SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users));
SELECT setval(pg_get_serial_sequence('rooms', 'id'), (SELECT max(id) FROM rooms));
SELECT setval(pg_get_serial_sequence('messages', 'id'), (SELECT max(id) FROM messages));
SELECT setval(pg_get_serial_sequence('audit_log', 'id'), (SELECT max(id) FROM audit_log));
`;

/** `random()` columns r1..rN; a MATERIALIZED CTE draws them strictly in generate_series order. */
function randoms(n: number): string {
  return Array.from({ length: n }, (_, i) => `random() AS r${i + 1}`).join(', ');
}

/** Picks an element of the text[] parameter $p with the random column r: `($p::text[])[1 + floor(r * len)]`. */
function pick(param: string, r: string): string {
  return `(${param}::text[])[1 + floor(${r} * cardinality(${param}::text[]))::int]`;
}

const INSERT_USERS = `
WITH g AS MATERIALIZED (
  SELECT i, ${randoms(11)},
         $1::timestamptz - (random() * 5 * ${YEAR_SECONDS}) * interval '1 second' AS created
  FROM generate_series(1, $2::int) AS i
), n AS (
  SELECT g.*, ${pick('$3', 'r1')} AS first, ${pick('$4', 'r2')} AS last FROM g
)
INSERT INTO users (id, email, username, display_name, phone, date_of_birth, country, created_at, last_seen_at, settings)
SELECT i,
       lower(first || '.' || last) || i || '@' || ${pick('$5', 'r3')},
       lower(first) || '_' || i,
       first || ' ' || last,
       CASE WHEN r4 < 0.85 THEN '+' || (10 + floor(r5 * 89))::int || ' ' || lpad(floor(r6 * 1e9)::bigint::text, 9, '0') END,
       CASE WHEN r7 < 0.9 THEN date '1950-01-01' + floor(r7 / 0.9 * 20000)::int END,
       ${pick('$6', 'r8')},
       created,
       CASE WHEN r9 < 0.97 THEN created + ($1::timestamptz - created) * r9 END,
       jsonb_build_object(
         'theme', CASE WHEN r10 < 0.6 THEN 'dark' ELSE 'light' END,
         'notifications', r11 < 0.8,
         'language', lower(${pick('$6', 'r11')}))
FROM n ORDER BY i`;

const INSERT_ROOMS = `
WITH g AS MATERIALIZED (SELECT i, ${randoms(4)} FROM generate_series(1, $2::int) AS i)
INSERT INTO rooms (id, name, is_private, created_by, created_at)
SELECT i, ${pick('$3', 'r1')} || '-' || i, r2 < 0.3, 1 + floor(r3 * $4::int)::bigint,
       $1::timestamptz - ((3 + r4) * ${YEAR_SECONDS}) * interval '1 second'
FROM g ORDER BY i`;

/** Owners first; then about three memberships per user, skewed (r²) so a few rooms are busy. */
const INSERT_OWNERS = `
INSERT INTO room_members (room_id, user_id, role, joined_at)
SELECT id, created_by, 'owner', created_at FROM rooms ORDER BY id`;

const INSERT_MEMBERS = `
WITH g AS MATERIALIZED (SELECT i, ${randoms(3)} FROM generate_series(1, $2::int * 3) AS i)
INSERT INTO room_members (room_id, user_id, role, joined_at)
SELECT 1 + floor(r1 * r1 * $3::int)::bigint, 1 + (i - 1) % $2::int,
       CASE WHEN r2 < 0.05 THEN 'admin' ELSE 'member' END,
       $1::timestamptz - (r3 * 3 * ${YEAR_SECONDS}) * interval '1 second'
FROM g ORDER BY i
ON CONFLICT DO NOTHING`;

/** Each message is written by a member of its room: a random row of room_members in key order. */
const INSERT_MESSAGES = `
WITH mem AS MATERIALIZED (
  SELECT row_number() OVER (ORDER BY room_id, user_id) AS rn, room_id, user_id FROM room_members
), g AS MATERIALIZED (
  SELECT i, ${randoms(12)},
         $1::timestamptz - (random() * 3 * ${YEAR_SECONDS}) * interval '1 second' AS created
  FROM generate_series(1, $2::int) AS i
)
INSERT INTO messages (id, room_id, user_id, body, attachments, created_at, edited_at)
SELECT g.i, mem.room_id, mem.user_id,
       ${pick('$4', 'r2')}
         || CASE WHEN r3 < 0.45 THEN ' ' || ${pick('$4', 'r4')} ELSE '' END
         || CASE WHEN r5 < 0.01 THEN ' Call me on +44 7700 ' || lpad(floor(r6 * 1e6)::int::text, 6, '0') ELSE '' END,
       CASE
         WHEN r7 < 0.85 THEN NULL
         ELSE jsonb_build_array(jsonb_build_object(
                'type', ${pick('$5', 'r8')},
                'url', 'https://cdn.example.com/att/' || g.i || '/1',
                'size', 1000 + floor(r9 * 5e6)::int))
              || CASE WHEN r7 > 0.97 THEN jsonb_build_array(jsonb_build_object(
                   'type', ${pick('$5', 'r10')},
                   'url', 'https://cdn.example.com/att/' || g.i || '/2',
                   'size', 1000 + floor(r10 * 5e6)::int))
                 ELSE '[]'::jsonb END
       END,
       created,
       CASE WHEN r11 < 0.05 THEN created + r12 * interval '2 hours' END
FROM g JOIN mem ON mem.rn = 1 + floor(g.r1 * $3::bigint)
ORDER BY g.i`;

const INSERT_RELATIONSHIPS = `
WITH g AS MATERIALIZED (SELECT i, ${randoms(4)} FROM generate_series(1, $2::int * 2) AS i)
INSERT INTO user_relationships (from_user_id, to_user_id, kind, created_at)
SELECT a, b, kind, created FROM (
  SELECT i, 1 + floor(r1 * $2::int)::bigint AS a, 1 + floor(r2 * $2::int)::bigint AS b,
         CASE WHEN r3 < 0.9 THEN 'friend' ELSE 'block' END AS kind,
         $1::timestamptz - (r4 * 3 * ${YEAR_SECONDS}) * interval '1 second' AS created
  FROM g) AS x
WHERE a <> b ORDER BY i
ON CONFLICT DO NOTHING`;

/** Sessions span the last 45 days and last 30, so about a third have already expired. */
const INSERT_SESSIONS = `
WITH g AS MATERIALIZED (
  SELECT i, ${randoms(5)},
         $1::timestamptz - (random() * 45 * 86400) * interval '1 second' AS created
  FROM generate_series(1, $2::int * 3) AS i
)
INSERT INTO user_sessions (id, user_id, ip, user_agent, created_at, expires_at)
SELECT md5($3::text || ':session:' || i)::uuid, 1 + floor(r1 * $2::int)::bigint,
       CASE WHEN r2 < 0.15 THEN '2001:db8::'::inet + floor(r3 * 1e12)::bigint
            ELSE '1.0.0.0'::inet + floor(r3 * 3.3e9)::bigint END,
       ${pick('$4', 'r4')},
       created, created + interval '30 days'
FROM g ORDER BY i`;

/** Spread over eight years, so about one row in eight is older than a seven-year retention. */
const INSERT_AUDIT = `
WITH g AS MATERIALIZED (
  SELECT i, ${randoms(5)}, ${pick('$6', 'random()')} AS action,
         $1::timestamptz - (random() * 8 * ${YEAR_SECONDS}) * interval '1 second' AS created
  FROM generate_series(1, $2::int) AS i
)
INSERT INTO audit_log (id, actor_user_id, action, entity, entity_id, details, created_at)
SELECT i,
       CASE WHEN r1 < 0.1 THEN NULL ELSE 1 + floor(r2 * $3::int)::bigint END,
       action, split_part(action, '.', 1),
       CASE split_part(action, '.', 1)
         WHEN 'user' THEN 1 + floor(r3 * $3::int)::bigint
         WHEN 'room' THEN 1 + floor(r3 * $4::int)::bigint
         ELSE 1 + floor(r3 * $5::int)::bigint END,
       jsonb_build_object(
         'ip', host('1.0.0.0'::inet + floor(r4 * 3.3e9)::bigint),
         'request_id', md5('audit:' || i),
         'via', CASE WHEN r5 < 0.7 THEN 'app' ELSE 'api' END),
       created
FROM g ORDER BY i`;

type Queryable = Pick<pg.ClientBase, 'query'>;

function isPool(x: unknown): x is pg.Pool {
  return (
    x instanceof pg.Pool || (typeof x === 'object' && x !== null && 'idleCount' in x && 'totalCount' in x)
  );
}

/** setseed() takes a double in [-1, 1]. */
function seedFraction(seed: number): number {
  return (Math.trunc(seed) % 2_147_483_647) / 2_147_483_647;
}

/**
 * Creates the chat-application demo schema in the connected database and fills it server-side
 * (generate_series + seeded random()), so 100k messages take about a second. One transaction:
 * either every table is there, or none.
 */
export async function seedDemo(
  target: pg.ClientBase | pg.Pool | string,
  opts: SeedDemoOptions = {},
): Promise<SeedDemoResult> {
  const messages = opts.messages ?? 100_000;
  const users = opts.users ?? Math.max(100, Math.round(messages / 50));
  const seed = opts.seed ?? 42;
  for (const [name, v] of Object.entries({ messages, users, seed })) {
    if (!Number.isSafeInteger(v) || (name !== 'seed' && v < 1)) {
      throw new ConfigError(`seedDemo: ${name} must be a positive integer, got ${v}`);
    }
  }
  if (users < 2) throw new ConfigError('seedDemo: users must be at least 2');

  if (typeof target === 'string') {
    const client = new pg.Client({ connectionString: target });
    await client.connect();
    try {
      return await seedWith(client, messages, users, seed, opts);
    } finally {
      await client.end();
    }
  }
  if (isPool(target)) {
    // setseed() and random() must run in one session, so hold one pooled connection throughout.
    const client = await target.connect();
    try {
      return await seedWith(client, messages, users, seed, opts);
    } finally {
      client.release();
    }
  }
  return seedWith(target, messages, users, seed, opts);
}

async function seedWith(
  db: Queryable,
  messages: number,
  users: number,
  seed: number,
  opts: SeedDemoOptions,
): Promise<SeedDemoResult> {
  const logger = opts.logger ?? silentLogger;
  const now = (opts.now ?? new Date()).toISOString();
  const rooms = Math.max(10, Math.round(users / 10));
  const auditRows = Math.max(500, Math.round(messages / 10));
  const started = Date.now();
  const step = async (label: string, sql: string, params: unknown[] = []) => {
    const t = Date.now();
    const r = await db.query(sql, params);
    logger.debug(`seed: ${label}`, { rows: r.rowCount, ms: Date.now() - t });
  };

  await db.query('BEGIN');
  try {
    // A bulk load of a throwaway demo: skip the commit flush wait and JIT compilation.
    await db.query(
      `SELECT set_config('synchronous_commit', 'off', true), set_config('jit', 'off', true),
              set_config('maintenance_work_mem', '128MB', true)`,
    );
    if (opts.replace) {
      await db.query(`DROP TABLE IF EXISTS ${[...DEMO_TABLES].reverse().join(', ')} CASCADE`);
    } else {
      const existing = await db.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_class c
         WHERE c.relname = ANY($1::text[])
           AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())`,
        [DEMO_TABLES],
      );
      if (existing.rows.length > 0) {
        throw new ConfigError(
          `the demo tables already exist: ${existing.rows.map((r) => r.name).join(', ')}`,
          { hint: 'Seed an empty database, or pass replace to drop and recreate them.' },
        );
      }
    }
    await db.query(DDL);
    await db.query('SELECT setseed($1)', [seedFraction(seed)]);
    await step('users', INSERT_USERS, [now, users, FIRST_NAMES, LAST_NAMES, EMAIL_DOMAINS, COUNTRIES]);
    await step('rooms', INSERT_ROOMS, [now, rooms, ROOM_WORDS, users]);
    await step('room owners', INSERT_OWNERS);
    await step('room members', INSERT_MEMBERS, [now, users, rooms]);
    const memberships = Number(
      (await db.query<{ n: string }>('SELECT count(*) AS n FROM room_members')).rows[0]?.n ?? 0,
    );
    await step('messages', INSERT_MESSAGES, [now, messages, memberships, SENTENCES, ATTACHMENT_KINDS]);
    await step('user relationships', INSERT_RELATIONSHIPS, [now, users]);
    await step('user sessions', INSERT_SESSIONS, [now, users, String(seed), USER_AGENTS]);
    await step('audit log', INSERT_AUDIT, [now, auditRows, users, rooms, messages, AUDIT_ACTIONS]);
    await step('constraints and indexes', CONSTRAINTS_AND_INDEXES);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  await db.query(`ANALYZE ${DEMO_TABLES.join(', ')}`);

  const counts = await db.query<{ name: string; n: string }>(
    DEMO_TABLES.map((t) => `SELECT '${t}' AS name, count(*) AS n FROM ${t}`).join(' UNION ALL '),
  );
  const tables: Record<string, number> = {};
  for (const row of counts.rows) tables[row.name] = Number(row.n);
  logger.info('demo data seeded', { ...tables, ms: Date.now() - started });
  return { tables };
}
