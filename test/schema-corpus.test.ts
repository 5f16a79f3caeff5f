// The schema corpus: every case's plan, applied to a copy of prod, must give dev's `pg_dump
// --schema-only` exactly (comments, SET lines, \restrict keys and blank lines aside), or the plan must refuse.
import { describe, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { planPromotion, type Plan } from '../activities/schema/plan.ts';
import { createDatabase, databaseUrl, dropDatabase, sql } from './support.ts';
import { corpus } from './schema-corpus/index.ts';
import type { CorpusCase } from './schema-corpus/case.ts';

async function schemaDump(database: string): Promise<string> {
  const { stdout } = await promisify(execFile)('pg_dump', ['--schema-only', databaseUrl(database)], { maxBuffer: 64 << 20 });
  return stdout
    .split('\n')
    // \restrict lines carry a random key per dump
    .filter((line) => line.trim() && !line.startsWith('--') && !/^SET |^SELECT pg_catalog\.set_config|^\\(un)?restrict /.test(line))
    .join('\n');
}

async function withClient<T>(database: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(databaseUrl(database));
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** Applies the plan as the workflow does: runs of transactional statements in one transaction each, the others alone. */
async function apply(database: string, plan: Plan): Promise<void> {
  await withClient(database, async (client) => {
    let inTransaction = false;
    for (const statement of plan.statements) {
      if (statement.transactional !== inTransaction) {
        await client.query(inTransaction ? 'COMMIT' : 'BEGIN');
        inTransaction = statement.transactional;
      }
      try {
        await client.query(statement.sql);
      } catch (error: any) {
        throw new Error(`${error.message}\n  in: ${statement.sql}\n  plan:\n${plan.statements.map((s) => `    ${s.sql}`).join('\n')}`);
      }
    }
    if (inTransaction) await client.query('COMMIT');
  });
}

async function runCase(corpusCase: CorpusCase) {
  const [prod, dev] = await Promise.all([createDatabase('corpus_prod', corpusCase.before), createDatabase('corpus_dev', corpusCase.after)]);
  const copy = `${prod.name}_copy`;
  try {
    const options = { renames: corpusCase.renames, answers: corpusCase.answers, schemas: corpusCase.schemas && ['public', ...corpusCase.schemas] };
    const plan = await withClient(prod.name, (prodClient) => withClient(dev.name, (devClient) => planPromotion(prodClient, devClient, options)));
    if (corpusCase.expect !== 'converges') {
      expect(plan.unsupported.map((item) => item.reason).join('\n')).toMatch(corpusCase.expect.refuses);
      return;
    }
    expect(plan.unsupported).toEqual([]);
    expect(plan.questions.filter((question) => !question.answer)).toEqual([]);
    await sql(`CREATE DATABASE "${copy}" TEMPLATE "${prod.name}"`);
    await apply(copy, plan);
    const [applied, wanted] = await Promise.all([schemaDump(copy), schemaDump(dev.name)]);
    expect(applied, plan.statements.map((statement) => statement.sql).join('\n')).toBe(wanted);
  } finally {
    await Promise.all([dropDatabase(prod.name), dropDatabase(dev.name), dropDatabase(copy)]);
  }
}

describe.concurrent('schema corpus', () => {
  for (const corpusCase of corpus) test(corpusCase.name, () => runCase(corpusCase));
});
