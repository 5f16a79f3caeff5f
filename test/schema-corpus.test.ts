// The schema corpus: every case's plan, applied to a copy of prod, must give dev's `pg_dump
// --schema-only` exactly (comments, SET lines, \restrict keys and blank lines aside) and dev's catalog as
// the convergence check reads it, or the plan must refuse.
import { describe, expect, test } from 'vitest';
import { corpus } from './schema-corpus/index.ts';
import { plan, schemaDump, withAppliedCopy, withClient, withDatabases } from './schema-corpus/databases.ts';
import { readCatalogObjects } from '../activities/convergence/catalog.ts';
import { diffCatalogs } from '../activities/convergence/diff.ts';
import type { CorpusCase } from './schema-corpus/case.ts';

async function runCase(corpusCase: CorpusCase) {
  await withDatabases(corpusCase.before, corpusCase.after, async (prod, dev) => {
    const options = { renames: corpusCase.renames, answers: corpusCase.answers, schemas: corpusCase.schemas, ...corpusCase.online };
    const planned = await plan(prod, dev, options);
    corpusCase.expectPlan?.(planned);
    if (corpusCase.expect !== 'converges') {
      expect(planned.unsupported.map((item) => item.reason).join('\n')).toMatch(corpusCase.expect.refuses);
      return;
    }
    expect(planned.unsupported).toEqual([]);
    expect(planned.questions.filter((question) => !question.answer)).toEqual([]);
    await withAppliedCopy(prod, planned, async (copy) => {
      const [applied, wanted] = await Promise.all([schemaDump(copy), schemaDump(dev)]);
      expect(applied, planned.statements.map((statement) => statement.sql).join('\n')).toBe(wanted);
      const catalogOf = (database: string) => withClient(database, (client) => readCatalogObjects(client, options.schemas ?? ['public']));
      expect(diffCatalogs(await catalogOf(copy), await catalogOf(dev), ['applied', 'dev'])).toEqual([]);
    });
  });
}

describe.concurrent('schema corpus', () => {
  for (const corpusCase of corpus) test(corpusCase.name, () => runCase(corpusCase));
});
