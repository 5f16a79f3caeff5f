// Benchmark of local branches and the trial against prod's size.
//   npx tsx bench/branches.ts [--rows 10000,1000000]
// For each size: copying prod into a branch with CREATE DATABASE ... TEMPLATE (allowed, prod idle) and
// with pg_dump | pg_restore (the default), the trial (plan statements in one transaction plus the
// convergence proof), and deleting the branches. The baseline, measured in the same run on the same
// server, is running the same statements straight on another TEMPLATE copy with no transaction and
// no checks: the trial's overhead is reported as a ratio to it.
import pg from 'pg';
import { performance } from 'node:perf_hooks';
import { startLocalPostgres } from '../scripts/postgres.ts';
import { withClient } from '../activities/db.ts';
import { createLocalBranchProvider } from '../activities/branches/local.ts';
import type { BranchMeta } from '../activities/branches/provider.ts';
import { planUrls } from '../activities/schema/plan.ts';
import { trialPlan } from '../activities/trial/trial.ts';

const PROD = (rows: number) => `
  CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, plan text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE events (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts(id), kind text NOT NULL, payload jsonb, at timestamptz NOT NULL DEFAULT now());
  CREATE INDEX events_account_id_idx ON events (account_id);
  INSERT INTO accounts SELECT i, 'user' || i || '@example.com', 'free' FROM generate_series(1, ${Math.max(1, Math.floor(rows / 10))}) i;
  INSERT INTO events SELECT i, 1 + i % ${Math.max(1, Math.floor(rows / 10))}, 'click', '{"x": 1}' FROM generate_series(1, ${rows}) i;
  ANALYZE;
`;
// A metadata-only change, an index build over every row and a table rewrite (type change).
const DEV_CHANGES = `
  ALTER TABLE accounts ADD COLUMN verified boolean NOT NULL DEFAULT false;
  CREATE INDEX events_kind_idx ON events (kind);
  ALTER TABLE events ALTER COLUMN kind TYPE varchar(32);
`;

const time = async (work: () => Promise<unknown>) => {
  const started = performance.now();
  await work();
  return performance.now() - started;
};

async function exec(url: string, sql: string) {
  await withClient(url, (client) => client.query(sql));
}

async function measure(server: Awaited<ReturnType<typeof startLocalPostgres>>, rows: number) {
  const prod = `prod_${rows}`;
  const dev = `dev_${rows}`;
  await exec(server.url(), `CREATE DATABASE ${prod}`);
  await exec(server.url(), `CREATE DATABASE ${dev}`);
  await exec(server.url(prod), PROD(rows));
  await exec(server.url(dev), PROD(0).replace(/INSERT[^;]*;/g, '') + DEV_CHANGES);
  const plan = await planUrls(server.url(prod), server.url(dev));
  const provider = createLocalBranchProvider(server.url(prod), { copy: 'template' });
  const meta: BranchMeta = { promotionId: 'bench', runId: 'bench', kind: 'trial', namespace: 'bench' };

  const templateMs = await time(() => provider.create('pgpromote-bench-template', meta));
  const dumpMs = await time(() => createLocalBranchProvider(server.url(prod)).create('pgpromote-bench-dump', meta));

  const trialMs = await time(() =>
    withClient(server.url('pgpromote-bench-template'), (branch) =>
      withClient(server.url(dev), (d) => trialPlan(branch, d, plan)),
    ),
  );
  // The baseline runs second, on a copy made the same way, so any cache warming favours it.
  await provider.create('pgpromote-bench-baseline', meta);
  const baselineMs = await time(() =>
    withClient(server.url('pgpromote-bench-baseline'), async (client: pg.Client) => {
      for (const { sql } of plan.statements) await client.query(sql);
    }),
  );
  const deleteMs = await time(async () => {
    await provider.delete('pgpromote-bench-template');
    await provider.delete('pgpromote-bench-dump');
  });
  await provider.delete('pgpromote-bench-baseline');
  const size = await withClient(server.url(), async (client) =>
    (await client.query('SELECT pg_size_pretty(pg_database_size($1)) AS size', [prod])).rows[0].size,
  );
  return { rows, size, templateMs, dumpMs, trialMs, baselineMs, deleteMs, statements: plan.statements.length };
}

const rowsArg = process.argv.indexOf('--rows');
const sizes = (rowsArg > 0 ? process.argv[rowsArg + 1]! : '10000,1000000').split(',').map(Number);
const server = await startLocalPostgres();
try {
  const results = [];
  for (const rows of sizes) {
    results.push(await measure(server, rows));
    console.error(`measured ${rows} rows`);
  }
  const ms = (value: number) => `${Math.round(value)} ms`;
  console.log('| prod rows | prod size | branch (TEMPLATE) | branch (dump/restore) | trial | statements alone (baseline) | trial / baseline | delete |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(`| ${r.rows} | ${r.size} | ${ms(r.templateMs)} | ${ms(r.dumpMs)} | ${ms(r.trialMs)} | ${ms(r.baselineMs)} | ${(r.trialMs / r.baselineMs).toFixed(2)}× | ${ms(r.deleteMs)} |`);
  }
} finally {
  await server.stop();
}
