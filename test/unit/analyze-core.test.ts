import { describe, expect, it } from 'vitest';

import { parseConfigText } from '../../src/config/load.js';
import { analyzeSchemas } from '../../src/config/sections/analyze.js';
import { gate, type BaselineFile } from '../../src/commands/analyze/baseline.js';
import { catalogue } from '../../src/commands/analyze/catalogue.js';
import { parseCorpusText, splitStatements } from '../../src/commands/analyze/explain/corpus.js';
import type { ExplainOutput } from '../../src/commands/analyze/explain/plan.js';
import { planFindings } from '../../src/commands/analyze/explain/plan-rules.js';
import { conditionColumns, candidatesFor, columnUses } from '../../src/commands/analyze/advise/candidates.js';
import type { IndexRow } from '../../src/commands/analyze/postgres/checks/index-catalogue.js';
import { coveredBy } from '../../src/commands/analyze/postgres/checks/redundant-index.js';
import { sequenceUsedPct } from '../../src/commands/analyze/postgres/checks/sequence-overflow.js';
import { renderGithub } from '../../src/commands/analyze/render/github.js';
import { renderJunit } from '../../src/commands/analyze/render/junit.js';
import { renderSarif } from '../../src/commands/analyze/render/sarif.js';
import { allowedBy, parseDuration, selectChecks } from '../../src/commands/analyze/settings.js';
import type { Finding } from '../../src/commands/analyze/types.js';
import { ConfigError } from '../../src/errors.js';

const config = analyzeSchemas().section.unwrap().parse({});

describe('analyze config section', () => {
  it('rejects unknown check ids and threshold names', () => {
    expect(() =>
      parseConfigText('analyze:\n  checks:\n    index.unusd: { maxScans: 1 }\n', 'f.yaml', {}),
    ).toThrow(ConfigError);
    expect(() =>
      parseConfigText('analyze:\n  checks:\n    index.unused: { maxScan: 1 }\n', 'f.yaml', {}),
    ).toThrow(ConfigError);
    const c = parseConfigText(
      'analyze:\n  checks:\n    index.unused: { minSizeBytes: 0 }\n  allow:\n    - { check: indexes, object: "public.t*", reason: legacy, expires: 2099-01-01 }\n',
      'f.yaml',
      {},
    );
    expect((c.analyze?.checks['index.unused'] as Record<string, unknown>).minSizeBytes).toBe(0);
  });

  it('selects groups and ids, and lists the valid names on a typo', () => {
    expect(selectChecks(['locks'], 'postgres', config)).toEqual(['locks.blocked']);
    expect(() => selectChecks(['indexs'], 'postgres', config)).toThrow(/unknown check or group: indexs/);
    expect(parseDuration('14d')).toBe(14 * 86400);
    expect(parseDuration('0')).toBe(0);
  });

  it('allow-list entries match by group and prefix, and stop at their expiry', () => {
    const allow = [{ check: 'indexes', object: 'public.legacy_*', reason: 'x', expires: '2026-01-01' }];
    expect(allowedBy(allow, 'index.unused', 'public.legacy_idx', '2025-12-31')).toBeDefined();
    expect(allowedBy(allow, 'index.unused', 'public.legacy_idx', '2026-01-02')).toBeUndefined();
    expect(allowedBy(allow, 'table.no-primary-key', 'public.legacy_idx', '2025-12-31')).toBeUndefined();
  });

  it('documents every check id', () => {
    for (const info of Object.values(catalogue)) {
      expect(info.rationale.length).toBeGreaterThan(20);
      expect(info.fix).toBeTruthy();
      expect(info.threshold).toBeTruthy();
    }
  });
});

describe('baseline gate', () => {
  const f = (
    check: Finding['check'],
    object: string,
    severity: Finding['severity'],
    value?: number,
  ): Finding => ({
    check,
    object,
    severity,
    message: 'm',
    ...(value !== undefined ? { value } : {}),
  });
  const baseline: BaselineFile = {
    format: 'dbops-analyze-baseline',
    version: 1,
    createdAt: '2026-01-01T00:00:00Z',
    entries: [
      { check: 'index.unused', object: 'a', severity: 'warning' },
      { check: 'table.dead-tuples', object: 'b', severity: 'warning', value: 20 },
      { check: 'table.no-primary-key', object: 'c', severity: 'warning', expires: '2020-01-01' },
    ],
  };

  it('fails on new and worse findings only', () => {
    const findings = [
      f('index.unused', 'a', 'warning'),
      f('table.dead-tuples', 'b', 'warning', 40),
      f('table.no-primary-key', 'c', 'warning'),
      f('table.dead-tuples', 'd', 'info', 5),
    ];
    const v = gate(findings, 'warning', baseline, '2026-06-01');
    expect(findings.map((x) => x.baseline)).toEqual(['known', 'worse', 'new', 'new']);
    expect(v).toMatchObject({
      failing: 2,
      newFindings: 2,
      worseFindings: 1,
      knownFindings: 1,
      expiredBaselineEntries: 1,
      exitCode: 1,
    });
  });

  it('passes when everything is known', () => {
    expect(gate([f('index.unused', 'a', 'warning')], 'info', baseline).exitCode).toBe(0);
  });
});

describe('corpus', () => {
  it('splits statements outside strings, dollar quotes and comments', () => {
    expect(splitStatements("select ';' as a; -- x;\n")).toHaveLength(1);
    expect(splitStatements('select $$a;b$$, $t$;$t$ /* ; */')).toHaveLength(1);
    expect(splitStatements('select 1; delete from t')).toHaveLength(2);
  });

  it('reads headers, params and budgets, and rejects multi-statement entries', () => {
    const problems: string[] = [];
    const entries = parseCorpusText(
      '-- name: a\n-- params: [42, "x"]\n-- max-cost: 1_000\n-- allow: plan.nested-loop\nselect * from t where id = $1 and n = $2;\n\n-- name: b\nselect 1; select 2;\n',
      'q.sql',
      problems,
    );
    expect(entries).toMatchObject([
      { name: 'a', params: [42, 'x'], maxCost: 1000, allow: ['plan.nested-loop'], line: 1 },
    ]);
    expect(problems).toEqual([expect.stringMatching(/q\.sql:7 \(b\): 2 statements/)]);
  });
});

describe('catalogue checks (pure parts)', () => {
  const idx = (over: Partial<IndexRow>): IndexRow => ({
    schema: 'public',
    table: 't',
    index: 'i',
    oid: 1,
    method: 'btree',
    unique: false,
    primary: false,
    valid: true,
    keys: ['a'],
    included: [],
    opclasses: ['1'],
    collations: ['0'],
    options: [0],
    predicate: null,
    expressions: null,
    definition: '',
    size: 0,
    backs_constraint: false,
    constraint_name: null,
    ...over,
  });

  it('prefix and duplicate indexes; unique and primary keys are never redundant', () => {
    const ab = idx({
      index: 'ab',
      oid: 2,
      keys: ['a', 'b'],
      opclasses: ['1', '1'],
      collations: ['0', '0'],
      options: [0, 0],
    });
    expect(coveredBy(idx({}), ab)).toBe('prefix');
    expect(coveredBy(idx({ unique: true }), ab)).toBeUndefined();
    expect(coveredBy(idx({ primary: true }), ab)).toBeUndefined();
    expect(coveredBy(idx({ oid: 5, index: 'copy' }), idx({}))).toBe('duplicate');
    expect(coveredBy(idx({}), idx({ oid: 5, index: 'copy' }))).toBeUndefined();
    expect(coveredBy(idx({ predicate: '(a > 0)' }), ab)).toBeUndefined();
    expect(coveredBy(idx({ options: [3] }), ab)).toBeUndefined(); // DESC NULLS FIRST differs
  });

  it('sequence overflow takes the tighter of the sequence and the column type', () => {
    expect(
      sequenceUsedPct({
        min: 1,
        max: 9.2e18,
        increment: 1,
        cycle: false,
        last_value: 2e9,
        column_type: 'integer',
      }),
    ).toMatchObject({ limit: 'column' });
    expect(
      sequenceUsedPct({ min: 1, max: 100, increment: 1, cycle: false, last_value: 95, column_type: 'bigint' })
        ?.pct,
    ).toBeCloseTo(94.95, 1);
    expect(
      sequenceUsedPct({ min: 1, max: 100, increment: 1, cycle: false, last_value: null, column_type: null }),
    ).toBeUndefined();
  });
});

describe('plan rules', () => {
  const entry = { name: 'q', file: 'q.sql', line: 1, sql: 'select', params: [], allow: [] };
  const plan: ExplainOutput = {
    Plan: {
      'Node Type': 'Nested Loop',
      'Total Cost': 9000,
      'Plan Rows': 10,
      'Actual Rows': 5000,
      'Actual Loops': 1,
      Plans: [
        {
          'Node Type': 'Sort',
          'Total Cost': 10,
          'Plan Rows': 3000,
          'Actual Rows': 3000,
          'Actual Loops': 1,
          'Sort Space Type': 'Disk',
          'Sort Method': 'external merge',
          Plans: [
            {
              'Node Type': 'Seq Scan',
              'Relation Name': 'big',
              Schema: 'public',
              'Total Cost': 5,
              'Plan Rows': 3000,
              'Actual Rows': 3000,
              'Actual Loops': 1,
              'Rows Removed by Filter': 97000,
              Filter: '(x = 1)',
            },
          ],
        },
        {
          'Node Type': 'Index Scan',
          'Relation Name': 'small',
          Schema: 'public',
          'Index Name': 'small_pkey',
          'Total Cost': 1,
          'Plan Rows': 1,
          'Actual Rows': 1,
          'Actual Loops': 3000,
        },
      ],
    },
  };
  it('reports seq scan, misestimate, spill, nested loop, scan efficiency and budget', () => {
    const out = planFindings({
      entry: { ...entry, maxCost: 1000 },
      explain: plan,
      analyzed: true,
      relationRows: new Map([['public.big', 100000]]),
      config,
      statement: 'EXPLAIN …',
    });
    expect(out.map((f) => f.check).sort()).toEqual([
      'plan.cost-budget',
      'plan.misestimate',
      'plan.nested-loop',
      'plan.scan-efficiency',
      'plan.seq-scan',
      'plan.spill',
    ]);
    expect(out.find((f) => f.check === 'plan.misestimate')).toMatchObject({ severity: 'error', value: 500 });
    const allowed = planFindings({
      entry: { ...entry, allow: ['plan.nested-loop'] },
      explain: plan,
      analyzed: false,
      relationRows: new Map(),
      config,
      statement: '',
    });
    expect(allowed.map((f) => f.check)).toEqual([]);
  });

  it('finds candidate columns in filters, joins and sort keys', () => {
    expect(conditionColumns('((customer_id = 42) AND (created_at > now()))').map((c) => c.column)).toEqual([
      'customer_id',
      'created_at',
      'now',
    ]);
    const uses = columnUses({
      'Node Type': 'Hash Join',
      'Total Cost': 1,
      'Plan Rows': 1,
      'Hash Cond': '(o.customer_id = c.id)',
      Plans: [
        {
          'Node Type': 'Seq Scan',
          'Relation Name': 'orders',
          Schema: 'public',
          Alias: 'o',
          'Total Cost': 1,
          'Plan Rows': 1,
          Filter: "(status = 'x'::text)",
        },
        {
          'Node Type': 'Seq Scan',
          'Relation Name': 'customers',
          Schema: 'public',
          Alias: 'c',
          'Total Cost': 1,
          'Plan Rows': 1,
        },
      ],
    });
    expect(candidatesFor(uses).map((c) => `${c.relation}(${c.columns})`)).toEqual(
      expect.arrayContaining([
        'public.orders(status)',
        'public.orders(customer_id)',
        'public.orders(status,customer_id)',
        'public.customers(id)',
      ]),
    );
  });
});

describe('CI renderers', () => {
  const report = {
    kind: 'analyze',
    target: 'main',
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 1200,
    checks: [
      { check: 'index.unused' as const, status: 'findings' as const, findings: 1 },
      { check: 'index.invalid' as const, status: 'ok' as const, findings: 0 },
      {
        check: 'query.slow' as const,
        status: 'skipped' as const,
        findings: 0,
        note: 'pg_stat_statements missing',
      },
    ],
    findings: [
      {
        check: 'index.unused' as const,
        severity: 'warning' as const,
        object: 'public.t.<i>&"x"',
        message: 'unused, 0 scans\nsecond line',
        fix: 'DROP INDEX …',
        baseline: 'new' as const,
      },
    ],
    verdict: {
      failOn: 'warning' as const,
      failed: true,
      failing: 1,
      newFindings: 1,
      worseFindings: 0,
      knownFindings: 0,
      expiredBaselineEntries: 0,
      exitCode: 1 as const,
    },
  };

  it('SARIF 2.1.0 with rules, fingerprints and baselineState', () => {
    const s = JSON.parse(renderSarif(report, { anchor: 'dbops.config.yaml' }));
    expect(s.version).toBe('2.1.0');
    expect(s.runs[0].tool.driver.rules.map((r: { id: string }) => r.id)).toEqual([
      'index.unused',
      'index.invalid',
      'query.slow',
    ]);
    expect(s.runs[0].results[0]).toMatchObject({
      ruleId: 'index.unused',
      ruleIndex: 0,
      level: 'warning',
      baselineState: 'new',
    });
    expect(s.runs[0].invocations[0].toolExecutionNotifications[0].descriptor.id).toBe('query.slow');
  });

  it('JUnit escapes XML and marks gate failures', () => {
    const x = renderJunit(report);
    expect(x).toContain('tests="3" failures="1" errors="0" skipped="1"');
    expect(x).toContain('name="index.unused:public.t.&lt;i&gt;&amp;&quot;x&quot;"');
  });

  it('GitHub annotations escape newlines and property separators', () => {
    const g = renderGithub(report, { file: 'dbops.config.yaml' });
    expect(g.split('\n')[0]).toBe(
      '::error file=dbops.config.yaml,title=index.unused public.t.<i>&"x"::unused, 0 scans%0Asecond line%0AFix: DROP INDEX …',
    );
  });
});
