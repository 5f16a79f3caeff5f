// `npm run demo`: a whole promotion on a local stack. Starts the Temporal dev server with its UI
// (state in .state/), an embedded Postgres with `dev` and `prod`, and a worker; promotes dev's
// schema to prod; prints the plan, the UI link and the command to approve. With --yes, or when
// stdin is not a terminal (CI), it approves itself and runs to the end. Ctrl-C stops everything.
// `--provider neon` keeps prod in a project of the loopback fake Neon API and trials on Neon branches.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline/promises';
import { userInfo } from 'node:os';
import pg from 'pg';
import { NativeConnection } from '@temporalio/worker';
import { startLocalPostgres, type LocalPostgres } from './postgres.ts';
import { startTemporalDevServer, type DevServer } from './temporal.ts';
import { portOr } from './ports.ts';
import { startFakeNeon } from './fake-neon.ts';
import { RELEASE_1, PROD_DATA, RELEASE_2_CHANGES, RENAMES, DEMO_PREVIEW } from './demo-app.ts';
import type { BranchTarget } from '../activities/branches/provider.ts';
import { createWorker } from '../worker/worker.ts';
import { createLogger, installTemporalLogging } from '../worker/logging.ts';
import { DEFAULTS, activityDeps, type Config } from '../worker/config.ts';
import { PromotionClient } from '../client/client.ts';
import { formatState } from '../client/format.ts';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// PGPROMOTE_STATE_DIR lets several demos (e.g. tests) run side by side.
const STATE = process.env.PGPROMOTE_STATE_DIR ?? path.join(ROOT, '.state');
const interactive = process.stdin.isTTY && !process.argv.includes('--yes');
const providerArg = process.argv.indexOf('--provider');
const provider = providerArg > 0 ? process.argv[providerArg + 1] : 'local';
if (provider !== 'local' && provider !== 'neon') {
  console.error(`--provider must be local or neon, not ${provider}`);
  process.exit(2);
}

const stops: (() => Promise<unknown>)[] = [];
let stopping = false;
async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const stop of stops.reverse()) await stop().catch((error) => console.error(`while stopping: ${error.message}`));
  }
  process.exit(code);
}
process.on('SIGINT', () => {
  console.log('\nstopping everything the demo started…');
  void stopAll(130);
});

async function run(statements: string, url: string) {
  const client = new pg.Client(url);
  await client.connect();
  try {
    await client.query(statements);
  } finally {
    await client.end();
  }
}

const step = (text: string) => console.log(`\n▸ ${text}`);

async function main(): Promise<number> {
  mkdirSync(STATE, { recursive: true });
  step(`starting the Temporal dev server with its UI (state in ${path.relative(ROOT, STATE) || STATE}/temporal.db)`);
  const temporal: DevServer = await startTemporalDevServer({
    ui: true,
    port: await portOr(7233),
    uiPort: await portOr(8233),
    dbFile: path.join(STATE, 'temporal.db'),
    logFile: path.join(STATE, 'temporal.log'),
  });
  stops.push(() => temporal.stop());
  console.log(`  Temporal at ${temporal.address}, UI at ${temporal.uiUrl}`);

  step(`starting an embedded Postgres with databases dev and prod${provider === 'neon' ? ' (prod in a fake Neon project)' : ''}`);
  const postgres: LocalPostgres = await startLocalPostgres({ logFile: path.join(STATE, 'postgres.log') });
  stops.push(() => postgres.stop());
  await run('CREATE DATABASE dev', postgres.url());
  await run(RELEASE_1 + RELEASE_2_CHANGES, postgres.url('dev'));
  let prodUrl = postgres.url('prod');
  // The demo's prod has no app on it: the fast TEMPLATE copy blocks no one, and needs no pg_dump on the machine.
  let branch: BranchTarget = { provider: 'local', copy: 'template' };
  let neon: Pick<Config, 'neonApiKey' | 'neonApiUrl'> = {};
  if (provider === 'neon') {
    const fake = await startFakeNeon({ postgresUrl: postgres.url() });
    stops.push(() => fake.stop());
    const project = await fake.createProject({ schema: RELEASE_1 + PROD_DATA });
    prodUrl = project.connectionUri;
    branch = { provider: 'neon', projectId: project.projectId, branchId: project.branchId, databaseName: project.databaseName, roleName: project.roleName };
    neon = { neonApiKey: fake.apiKey, neonApiUrl: fake.baseURL };
    console.log(`  fake Neon API at ${fake.baseURL}, project ${project.projectId}, prod branch ${project.branchId}`);
  } else {
    await run('CREATE DATABASE prod', postgres.url());
    await run(RELEASE_1 + PROD_DATA, prodUrl);
  }
  console.log('  prod: release 1 with 200 users, 400 projects, 5000 tasks; dev: release 2 (renamed column, new table, new columns, new index)');

  const config: Config = {
    ...DEFAULTS,
    address: temporal.address,
    uiUrl: temporal.uiUrl!,
    taskQueue: 'pgpromote-demo',
    secretKeys: [randomBytes(32).toString('hex')],
    ...neon,
  };
  step(`starting a worker on task queue ${config.taskQueue} (logs in .state/worker.log)`);
  installTemporalLogging(createLogger('info', path.join(STATE, 'worker.log')));
  const connection = await NativeConnection.connect({ address: config.address });
  const worker = await createWorker({ connection, namespace: config.namespace, taskQueue: config.taskQueue, deps: activityDeps(config) });
  const running = worker.run();
  stops.push(async () => {
    worker.shutdown();
    await running;
    await connection.close();
  });

  const client = await PromotionClient.connect(config);
  stops.push(() => client.close());
  step(`promoting dev → prod (telling pgpromote: ${RENAMES.join(', ')})`);
  const id = await client.deploy({ dev: postgres.url('dev'), prod: prodUrl, renames: RENAMES, branch, preview: DEMO_PREVIEW });
  console.log(`  promotion ${id}\n  Temporal UI: ${client.uiUrl(id)}`);
  const waiting = await client.waitForStage(id, ['awaiting-approval', 'finished']);
  console.log(`\n${formatState(waiting)}`);
  if (waiting.preview) {
    const page = await (await fetch(waiting.preview.url)).text();
    const shown = page.match(/<td>User 1<\/td>/) ? 'display names and task priorities' : 'its page';
    step(`preview: the app's release 2 runs on the migrated branch with prod's data (${shown}) at ${waiting.preview.url}`);
  }

  if (waiting.stage === 'awaiting-approval') {
    const approver = process.env.USER || userInfo().username;
    console.log(`\nTo approve from another terminal:\n  TEMPORAL_ADDRESS=${config.address} node bin/pgpromote.mjs approve ${id} --as ${approver}`);
    console.log(`or in the Temporal UI: send the signal "approve" with {"by": "${approver}", "planHash": "${waiting.plan!.planHash}"}`);
    if (interactive) {
      const prompt = createInterface({ input: process.stdin, output: process.stdout });
      const decision = prompt.question('\nApprove here? [y]es / [n]o (reject) / or wait for another approver: ');
      const finished = client.result(id).then(() => 'decided elsewhere', () => 'decided elsewhere');
      const answer = (await Promise.race([decision, finished])).trim().toLowerCase();
      prompt.close();
      if (answer.startsWith('y')) await client.approve(id, { by: approver, comment: 'approved in the demo' });
      else if (answer.startsWith('n')) await client.reject(id, { by: approver, comment: 'rejected in the demo' });
    } else {
      console.log('\nnot interactive: approving as "demo"');
      await client.approve(id, { by: 'demo', comment: 'non-interactive demo', planHash: waiting.plan!.planHash });
    }
  }

  let outcome: string;
  try {
    const done = await client.result(id);
    outcome = done.outcome!;
    console.log(`\n${formatState(done)}`);
  } catch (error) {
    console.error(`\n${(error as Error).message}`);
    return 1;
  }
  if (outcome === 'applied') {
    const check = new pg.Client(prodUrl);
    await check.connect();
    const { rows } = await check.query(`SELECT
      (SELECT count(*) FROM users WHERE display_name IS NOT NULL)::int AS users_with_names,
      (SELECT count(*) FROM tasks WHERE priority = 3)::int AS tasks_with_priority,
      (SELECT count(*) FROM comments)::int AS comments`);
    await check.end();
    step(`prod now: ${rows[0].users_with_names} users kept their names as display_name, ${rows[0].tasks_with_priority} tasks have the new priority column, comments table exists (${rows[0].comments} rows)`);
  }
  if (interactive) {
    console.log(`\nThe Temporal UI stays up at ${client.uiUrl(id)} — press Ctrl-C to stop everything.`);
    await new Promise(() => {});
  }
  return outcome === 'applied' ? 0 : 1;
}

main().then(stopAll, async (error) => {
  console.error(`demo failed: ${(error as Error).message}`);
  await stopAll(1);
});
