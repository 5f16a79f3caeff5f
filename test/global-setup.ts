// One real Temporal dev server and one real Postgres server for the whole test run.
// PGPROMOTE_TEST_POSTGRES_URL (a superuser URL) uses your own server instead of an embedded one.
import type { TestProject } from 'vitest/node';
import { startLocalPostgres } from '../scripts/postgres.ts';
import { startTemporalDevServer } from '../scripts/temporal.ts';
import { buildCli, cliBuildProblem } from '../scripts/cli-build.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    postgresUrl: string;
  }
}

export default async function setup(project: TestProject) {
  // The tests run bin/pgpromote.mjs, which runs the compiled command: as `npm run setup` would, compile it when stale.
  if (cliBuildProblem()) await buildCli();
  const [temporal, postgres] = await Promise.all([
    startTemporalDevServer({ logFile: 'test-temporal.log' }),
    process.env.PGPROMOTE_TEST_POSTGRES_URL ? undefined : startLocalPostgres({ logFile: 'test-postgres.log' }),
  ]);
  project.provide('temporalAddress', temporal.address);
  project.provide('postgresUrl', process.env.PGPROMOTE_TEST_POSTGRES_URL ?? postgres!.url());
  return async () => {
    await Promise.all([temporal.stop(), postgres?.stop()]);
  };
}
