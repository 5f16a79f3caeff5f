// Postgres's side of reading a schema: each catalog query `readSchema` issues, timed by the server alone.
//   npx tsx bench/catalog-queries.ts [--tables 1000] [--repeat 5] [--dump file.json] [--corpus]
// prod holds `tables` tables of bench/schema.ts's generator. Each query, with the parameters readSchema gave
// it, runs `repeat` times under EXPLAIN (ANALYZE, BUFFERS), each time in a new connection as the command's: the
// minimum of planning + execution time is reported (the least disturbed by the machine's load), with its shared buffers. `--dump` writes readSchema's
// JSON of the bench databases (and, with `--corpus`, of both sides of every test/schema-corpus case), to
// compare byte for byte before and after a change of the queries.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type pg from 'pg';
import { startLocalPostgres, type LocalPostgres } from '../scripts/postgres.ts';
import { withClient, type Queryable } from '../activities/db.ts';
import { readSchema } from '../activities/schema/plan.ts';
import { createDatabase, generateSchema } from './schema.ts';

/** Each query by a fragment of its text found in no other (SQL reaches here whole, wrappers included). */
const LABELS: [string, string][] = [
  ['pg_get_viewdef(c.oid, true)', 'catalog: relations'],
  ['AS described_array', 'catalog: columns'],
  ['AS nulls_not_distinct', 'catalog: constraints'],
  ['AS default_opclass', 'catalog: indexes'],
  ['json_agg(e.enumlabel', 'catalog: enums'],
  ['AS "startWith", s.seqmin', 'catalog: sequences'],
  ['ELSE \'RESTRICTIVE\' END AS as', 'catalog: policies'],
  ['SELECT nspname AS name FROM pg_namespace WHERE nspname = ANY', 'catalog: schemas'],
  ['as dependencies', 'extras: objects, names and dependencies'],
  ["'statistics-target'", 'extras: settings'],
  ['pg_description d join targets', 'extras: comments'],
  ['aclexplode', 'extras: grants'],
  ['pg_get_partkeydef', 'extras: special tables'],
  ["'primary key' as kind", 'extras: implicit names'],
  ['co.conparentid <> 0', 'extras: cloned constraints'],
  ['select rolname from pg_roles', 'extras: roles'],
];

const label = (sql: string) => LABELS.find(([fragment]) => sql.includes(fragment))?.[1] ?? `unlabelled: ${sql.replace(/\s+/g, ' ').slice(0, 80)}`;

/** A client that notes every query it runs (readSchema's reads, in the order issued). */
function recording(client: pg.Client, queries: { sql: string; params: unknown[] }[]): Queryable {
  return {
    query: ((sql: string, params: unknown[] = []) => {
      queries.push({ sql, params });
      return client.query(sql, params);
    }) as Queryable['query'],
  };
}

interface Cost { label: string; ms: number; buffers: number }

/** Each query in a connection of its own, as the command runs it: a backend that opens a table for the first time
 * (pg_get_expr, pg_get_constraintdef of its columns) builds its relcache entry, which a second run would find. */
async function costs(url: string, repeat: number): Promise<Cost[]> {
  const queries: { sql: string; params: unknown[] }[] = [];
  await withClient(url, (client) => readSchema(recording(client, queries)));
  const measured: Cost[] = [];
  for (const { sql, params } of queries) {
    let best = { ms: Infinity, buffers: 0 };
    for (let round = 0; round < repeat; round++) {
      const { rows } = await withClient(url, (client) => client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`, params));
      const [{ Plan: plan, 'Planning Time': planning, 'Execution Time': execution }] = rows[0]['QUERY PLAN'];
      const ms = planning + execution;
      if (ms < best.ms) best = { ms, buffers: plan['Shared Hit Blocks'] + plan['Shared Read Blocks'] };
    }
    measured.push({ label: label(sql), ...best });
  }
  return measured;
}

/** readSchema's JSON of a database of `scripts`, created on `server` and dropped afterwards. */
async function schemaJson(server: LocalPostgres, database: string, script: string): Promise<string> {
  const url = await createDatabase(server, database, [script]);
  try {
    return JSON.stringify(await withClient(url, (client) => readSchema(client)));
  } finally {
    await withClient(server.url(), (admin) => admin.query(`DROP DATABASE ${database}`));
  }
}

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1]! : fallback;
}

async function main() {
  const tables = Number(option('--tables', '1000'));
  const repeat = Number(option('--repeat', '5'));
  const dump = option('--dump', '');
  const load = [loadavg()[0]!];
  const server = await startLocalPostgres({ logFile: 'bench-postgres.log' });
  try {
    const prodScripts = generateSchema(tables, 'prod');
    const prod = await createDatabase(server, `queries_prod_${tables}`, prodScripts);
    const measured = await costs(prod, repeat);
    const total = measured.reduce((sum, { ms }) => sum + ms, 0);
    load.push(loadavg()[0]!);
    console.log(`${tables} tables, min of ${repeat} runs, load average ${load.map((value) => value.toFixed(1)).join(' → ')}\n`);
    console.log('| query | server time | shared buffers |\n|---|---:|---:|');
    for (const { label: name, ms, buffers } of measured) console.log(`| ${name} | ${ms.toFixed(1)} ms | ${buffers} |`);
    console.log(`| **all** | **${total.toFixed(0)} ms** | |`);
    if (dump) {
      const schemas: Record<string, string> = {
        prod: await withClient(prod, async (client) => JSON.stringify(await readSchema(client))),
        dev: await schemaJson(server, `queries_dev_${tables}`, generateSchema(tables, 'dev').join('\n')),
      };
      if (process.argv.includes('--corpus')) {
        const { corpus } = await import('../test/schema-corpus/index.ts');
        for (const [index, corpusCase] of corpus.entries()) {
          for (const side of ['before', 'after'] as const) {
            schemas[`${corpusCase.name} (${side})`] = await schemaJson(server, `queries_case_${index}_${side}`, corpusCase[side]);
          }
        }
      }
      writeFileSync(dump, JSON.stringify(schemas, null, 1));
      console.error(`readSchema of ${Object.keys(schemas).length} databases written to ${dump}`);
    }
  } finally {
    await server.stop();
  }
}

await main();
