// Records one history of each path of the promotion workflow into test/histories/<path>.json, for
// test/replay.test.ts. Run it again after changing the workflow's shape on purpose:
//
//   npx tsx test/histories/record.ts
//
// It starts its own embedded Postgres (or uses PGPROMOTE_TEST_POSTGRES_URL) and Temporal's
// time-skipping test server (`npm run setup -- --test-server` installs it), with a real worker.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { withClient } from '../../activities/db.ts';
import { startLocalPostgres } from '../../scripts/postgres.ts';
import { answerUpdate, approveUpdate, cancelUpdate, rejectUpdate, revertUpdate, type PromotionState } from '../../workflows/messages.ts';
import { startTimeSkippingStack, waitForStage, type Promotion, type TimeSkippingStack } from '../time-skipping-stack.ts';
import { historyToJSON } from './history-json.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const APP = 'CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE);';
const DATA = "INSERT INTO users (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, 20) i;";
const NEW_COLUMN = 'ALTER TABLE users ADD COLUMN phone text;';

/** Each path: the dev change that leads there, the promotion's options, and what the approvers do. */
export const PATHS: Record<string, { devChange: string; revertWindow?: string; drive(promotion: Promotion): Promise<unknown> }> = {
  'approved-applied': {
    devChange: NEW_COLUMN,
    drive: async (promotion) => {
      const { plan } = await waitForStage(promotion, ['awaiting-approval']);
      await promotion.executeUpdate(approveUpdate, { args: [{ by: 'alice', planHash: plan!.planHash }] });
    },
  },
  // A renamed column: the promotion asks, is answered, plans again, and is approved.
  'answered-applied': {
    devChange: 'ALTER TABLE users RENAME COLUMN email TO mail;',
    drive: async (promotion) => {
      await waitForStage(promotion, ['awaiting-answers']);
      await promotion.executeUpdate(answerUpdate, { args: [{ by: 'alice', renames: ['users.email=users.mail'] }] });
      const { plan } = await waitForStage(promotion, ['awaiting-approval']);
      await promotion.executeUpdate(approveUpdate, { args: [{ by: 'bob', planHash: plan!.planHash }] });
    },
  },
  rejected: {
    devChange: NEW_COLUMN,
    drive: async (promotion) => {
      await waitForStage(promotion, ['awaiting-approval']);
      await promotion.executeUpdate(rejectUpdate, { args: [{ by: 'bob', comment: 'not today' }] });
    },
  },
  // Nobody decides: the 7-day approval timeout passes while the result is awaited.
  expired: { devChange: NEW_COLUMN, drive: (promotion) => waitForStage(promotion, ['awaiting-approval']) },
  cancelled: {
    devChange: NEW_COLUMN,
    drive: async (promotion) => {
      await waitForStage(promotion, ['awaiting-approval']);
      await promotion.executeUpdate(cancelUpdate, { args: [{ by: 'carol' }] });
    },
  },
  reverted: {
    devChange: NEW_COLUMN,
    revertWindow: '1 hour',
    drive: async (promotion) => {
      const { plan } = await waitForStage(promotion, ['awaiting-approval']);
      await promotion.executeUpdate(approveUpdate, { args: [{ by: 'alice', planHash: plan!.planHash }] });
      await waitForStage(promotion, ['revert-window']);
      await promotion.executeUpdate(revertUpdate, { args: [{ by: 'bob', comment: 'app broke' }] });
    },
  },
  // A NOT NULL column without a default cannot be added to a table with rows: the trial fails.
  'failed-trial': { devChange: 'ALTER TABLE users ADD COLUMN plan text NOT NULL;', drive: async () => {} },
};

async function record(stack: TimeSkippingStack, serverUrl: (database: string) => string, name: string): Promise<string> {
  const { devChange, revertWindow, drive } = PATHS[name]!;
  const suffix = randomUUID().slice(0, 8);
  const [prod, dev] = [`record_prod_${suffix}`, `record_dev_${suffix}`];
  await withClient(serverUrl('postgres'), async (client) => {
    for (const database of [prod, dev]) await client.query(`CREATE DATABASE ${database}`);
  });
  try {
    await withClient(serverUrl(prod), (client) => client.query(APP + DATA));
    await withClient(serverUrl(dev), (client) => client.query(APP + devChange));
    const promotion = await stack.start({ dev: serverUrl(dev), prod: serverUrl(prod), approvalTimeout: '7 days', revertWindow });
    await drive(promotion);
    const outcome = await promotion.result().then(
      (state: PromotionState) => state.outcome,
      (error) => {
        if (error instanceof WorkflowFailedError) return 'failed';
        throw error;
      },
    );
    writeFileSync(path.join(HERE, `${name}.json`), historyToJSON(await promotion.fetchHistory()));
    return `${outcome}`;
  } finally {
    await withClient(serverUrl('postgres'), async (client) => {
      for (const database of [prod, dev]) await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    });
  }
}

const external = process.env.PGPROMOTE_TEST_POSTGRES_URL;
const postgres = external ? undefined : await startLocalPostgres({ logFile: 'record-postgres.log' });
const serverUrl = (database: string) => {
  if (!external) return postgres!.url(database);
  const url = new URL(external);
  url.pathname = `/${database}`;
  return url.toString();
};
let stack: TimeSkippingStack | undefined;
try {
  stack = await startTimeSkippingStack('record-worker.log');
  for (const name of Object.keys(PATHS)) console.log(`${name}: ${await record(stack, serverUrl, name)} → test/histories/${name}.json`);
} finally {
  await stack?.stop();
  await postgres?.stop();
}
