// The schema corpus: every case's plan, applied to a copy of prod, must give dev's `pg_dump
// --schema-only` exactly (comments, SET lines, \restrict keys and blank lines aside), or the plan must refuse.
import { describe, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Plan } from '../activities/schema/plan.ts';
import { databaseUrl, dropDatabase, sql } from './support.ts';
import { corpus } from './schema-corpus/index.ts';
import { plan, withClient, withDatabases } from './schema-corpus/databases.ts';
import type { CorpusCase } from './schema-corpus/case.ts';

async function schemaDump(database: string): Promise<string> {
  const { stdout } = await promisify(execFile)('pg_dump', ['--schema-only', databaseUrl(database)], { maxBuffer: 64 << 20 });
  return stdout
    .split('\n')
    // \restrict lines carry a random key per dump
    .filter((line) => line.trim() && !line.startsWith('--') && !/^SET |^SELECT pg_catalog\.set_config|^\\(un)?restrict /.test(line))
    .join('\n');
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
  await withDatabases(corpusCase.before, corpusCase.after, async (prod, dev) => {
    const options = { renames: corpusCase.renames, answers: corpusCase.answers, schemas: corpusCase.schemas && ['public', ...corpusCase.schemas] };
    const planned = await plan(prod, dev, options);
    if (corpusCase.expect !== 'converges') {
      expect(planned.unsupported.map((item) => item.reason).join('\n')).toMatch(corpusCase.expect.refuses);
      return;
    }
    expect(planned.unsupported).toEqual([]);
    expect(planned.questions.filter((question) => !question.answer)).toEqual([]);
    const copy = `${prod}_copy`;
    await sql(`CREATE DATABASE "${copy}" TEMPLATE "${prod}"`);
    try {
      await apply(copy, planned);
      const [applied, wanted] = await Promise.all([schemaDump(copy), schemaDump(dev)]);
      expect(applied, planned.statements.map((statement) => statement.sql).join('\n')).toBe(wanted);
    } finally {
      await dropDatabase(copy);
    }
  });
}

describe.concurrent('schema corpus', () => {
  for (const corpusCase of corpus) test(corpusCase.name, () => runCase(corpusCase));
});
