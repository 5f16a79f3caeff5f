// The `pgpromote` command. Start-up loads only commander and this file's light neighbours: each command
// imports what it needs (the Temporal client, drizzle-kit, libpg-query, pg) when it runs, so that `--help`
// and usage errors answer at once.
import { Command, InvalidArgumentError, Option } from 'commander';
import { userInfo } from 'node:os';
import { ArgumentError, readAnswers } from './usage.ts';
import { formatList, formatPlan, formatState } from './format.ts';
import { planDocument, statusDocument } from './json.ts';
import type { PromotionClient } from './client.ts';
import type { BranchTarget } from '../activities/branches/provider.ts';
import type { ApprovalPolicy } from '../workflows/messages.ts';
import type { PreviewTarget } from '../activities/preview/provider.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];
const defaultUser = () => process.env.USER || userInfo().username;

async function withPromotions<T>(use: (client: PromotionClient) => Promise<T>): Promise<T> {
  const { PromotionClient } = await import('./client.ts');
  const client = await PromotionClient.connect();
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

function branchTarget(options: Record<string, string | undefined>): BranchTarget {
  if (!options.neonProject) return { provider: 'local', ...(options.localCopy === 'template' && { copy: 'template' }) };
  if (options.localCopy) throw new ArgumentError('--local-copy is for local branches; a Neon branch is a copy-on-write branch of the project');
  const { neonProject: projectId, neonBranch: branchId, neonDatabase: databaseName, neonRole: roleName } = options;
  if (!branchId || !databaseName || !roleName) {
    throw new ArgumentError('--neon-project needs --neon-branch, --neon-database and --neon-role too (see the Neon console: the prod branch and its database and role)');
  }
  return { provider: 'neon', projectId, branchId, databaseName, roleName };
}

/** Where branches of prod are made: prod's own server, or a Neon project. */
function withBranchTarget(command: Command): Command {
  return command
    .option('--neon-project <id>', 'branch on this Neon project instead of cloning prod on its server')
    .option('--neon-branch <id>', 'the Neon branch that is prod (with --neon-project)')
    .option('--neon-database <name>', 'prod\'s database name on Neon (with --neon-project)')
    .option('--neon-role <name>', 'the role branches connect as (with --neon-project)')
    .addOption(
      new Option('--local-copy <how>', 'how a local branch copies prod: dump (pg_dump | pg_restore; prod stays usable) or template (CREATE DATABASE … TEMPLATE: faster, but new prod connections wait for the whole copy)')
        .choices(['dump', 'template']),
    );
}

/** approve, reject, revert, cancel: a person decides about one promotion, and says who they are and why.
 * The promotion decides whether it takes the decision; a refusal prints its reason and exits 1. */
function decision(program: Command, name: string, description: string): Command {
  return program
    .command(`${name} <id>`)
    .description(description)
    .addOption(new Option('--as <name>', 'who decides').default(defaultUser(), '$USER'))
    .option('--comment <text>', 'why');
}

/** What shapes a plan, for `plan` and `deploy` alike. */
function withPlanOptions(command: Command): Command {
  return command
    .option('--schema <name>', 'compare only this schema (repeatable; default: every user schema of prod and dev)', collect)
    .option('--exclude-schema <name>', 'leave this schema out of the comparison (repeatable)', collect)
    .option('--answers <file>', 'JSON file of {questionId: answer}')
    .option('--rename <old=new>', 'treat old as renamed to new, e.g. users.name=users.full_name (repeatable)', collect)
    .option('--drop <object>', 'drop this object on purpose, e.g. users.nickname: an object missing from dev is otherwise a question (repeatable)', collect)
    .option('--online', 'make every change online (indexes built CONCURRENTLY, constraints validated apart), whatever the table\'s size')
    .option('--online-threshold <size>', 'make changes online on tables at least this big on prod, in bytes or with a unit: 0, 500MB, 2GB (default 64MB)', parseSize);
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/** `67108864`, `64MB`, `2 GB`: Postgres' units, 1024-based. */
function parseSize(value: string): number {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  const bytes = unit === undefined ? NaN : Number(match![1]) * unit;
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError('give a size in bytes, or with kB, MB, GB or TB, e.g. 500MB');
  return bytes;
}

/** The preview flags as a target: a command run by the worker, or a deploy system's webhook. */
function previewTarget(options: Record<string, string | undefined>): PreviewTarget | undefined {
  const { previewCommand: command, previewWebhook: url, previewCwd: cwd, previewHealth: health, previewTimeout: timeout } = options;
  if (command && url) throw new ArgumentError('--preview-command and --preview-webhook exclude each other: the worker runs the app, or a deploy system does');
  if (url) return { provider: 'webhook', url, timeout };
  return command ? { provider: 'command', command, cwd, health, timeout } : undefined;
}

/** The deploy flags that say who may approve, as the workflow's policy; absent when none is given. */
function approvalPolicy(options: { approvers?: string[]; approvals?: number; selfApproval: boolean }): ApprovalPolicy | undefined {
  const policy: ApprovalPolicy = {
    ...(options.approvers && { approvers: options.approvers }),
    ...(options.approvals !== undefined && { approvals: options.approvals }),
    ...(!options.selfApproval && { noSelfApproval: true }),
  };
  return Object.keys(policy).length ? policy : undefined;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('give a port number, 0 to 65535');
  return port;
}

function planOptions(options: { schema?: string[]; excludeSchema?: string[]; answers?: string; rename?: string[]; drop?: string[]; online?: boolean; onlineThreshold?: number }) {
  if (options.online && options.onlineThreshold !== undefined) throw new ArgumentError('--online and --online-threshold exclude each other: --online makes every change online, whatever the table\'s size');
  return {
    online: options.online ? 'always' as const : undefined,
    onlineThresholdBytes: options.onlineThreshold,
    schemas: options.schema,
    excludeSchemas: options.excludeSchema,
    answers: options.answers ? readAnswers(options.answers) : undefined,
    renames: options.rename,
    drops: options.drop,
  };
}

export function buildCli(): Command {
  const program = new Command('pgpromote')
    .description('Promote a Postgres schema from dev to prod safely, as a durable Temporal workflow.')
    .showHelpAfterError()
    .exitOverride(); // before the subcommands, which inherit it: their usage errors then exit 2 as well (main)

  const plan = program
    .command('plan')
    .description('print the plan that takes one database\'s schema to another\'s (no Temporal needed)')
    .requiredOption('--from <url>', 'the database to change (prod)')
    .requiredOption('--to <url>', 'the database to match (dev)');
  withPlanOptions(plan)
    .option('--json', 'print exactly one JSON document')
    .action(async (options) => {
      const { planUrls } = await import('../activities/schema/plan.ts');
      const result = await planUrls(options.from, options.to, planOptions(options));
      console.log(options.json ? JSON.stringify(planDocument(result), null, 2) : formatPlan(result));
    });

  const deploy = program
    .command('deploy')
    .description('start a promotion of dev\'s schema to prod')
    .requiredOption('--dev <url>', 'the dev database (the schema to promote)')
    .requiredOption('--prod <url>', 'the prod database');
  withBranchTarget(withPlanOptions(deploy))
    .option('--approval-timeout <duration>', 'how long to wait for approval', '7 days')
    .option('--revert-window <duration>', 'back prod up before the apply and allow `pgpromote revert` this long after it')
    .option('--id <id>', 'promotion id (Temporal workflow id)')
    .addOption(new Option('--as <name>', 'who starts the promotion').default(defaultUser(), '$USER'))
    .option('--approvers <names>', 'only these people may approve (comma-separated)', (value: string) => value.split(',').map((name) => name.trim()))
    .option('--approvals <n>', 'how many distinct people must approve (default 1)', (value: string) => Number(value))
    .option('--no-self-approval', 'whoever started the promotion (--as) may not approve it')
    .option('--preview-command <command>', 'start the app on the trial branch before approval (run by sh -c, with DATABASE_URL and PORT set), e.g. "npm start"')
    .option('--preview-cwd <dir>', 'the directory the preview command runs in')
    .option('--preview-health <path>', 'the path that answers 2xx once the preview is ready', '/')
    .option('--preview-webhook <url>', 'ask a deploy system to start the preview instead (a signed POST; see README)')
    .option('--preview-timeout <duration>', 'how long the preview may take to become ready (default: 2 minutes for a command, 10 minutes for a webhook)')
    .option('--no-wait', 'return once started instead of waiting for the plan')
    .option('--no-queue', 'fail at once, naming the running promotion, if another promotion of the same prod runs (default: wait for it in stage queued)')
    .option('--json', 'print exactly one JSON document: {"id"} with --no-wait, else the state it waited for, as `status --json`')
    .action(async (options) => {
      await withPromotions(async (client) => {
        const id = await client.deploy({
          dev: options.dev,
          prod: options.prod,
          ...planOptions(options),
          approvalTimeout: options.approvalTimeout,
          revertWindow: options.revertWindow,
          id: options.id,
          branch: branchTarget(options),
          preview: previewTarget(options),
          startedBy: options.as,
          policy: approvalPolicy(options),
          noQueue: !options.queue,
        });
        if (!options.json) console.log(`promotion ${id} started: ${client.uiUrl(id)}`);
        if (!options.wait) {
          if (options.json) console.log(JSON.stringify({ id }));
          return;
        }
        const state = await client.waitForStage(id, ['queued', 'awaiting-answers', 'awaiting-approval', 'finished']);
        console.log(options.json ? JSON.stringify(statusDocument(state), null, 2) : formatState(state));
        if (state.outcome === 'failed' || state.ended) throw new Error(`promotion ${id} ${state.ended ?? 'failed'}: ${state.error ?? 'no reason given'}`);
        if (options.json) return;
        // It may wait for days (the running promotion's approval): it starts by itself, nobody needs to watch.
        if (state.stage === 'queued') console.log(`\nqueued behind ${state.queuedBehind}; it starts by itself once that one ends: pgpromote status ${id}`);
        if (state.stage === 'awaiting-answers') console.log(`\nanswer:  pgpromote answer ${id} --rename <old=new> | --drop <object>\nreject:  pgpromote reject ${id}`);
        if (state.stage === 'awaiting-approval') console.log(`\napprove: pgpromote approve ${id} --as <name>\nreject:  pgpromote reject ${id}`);
      });
    });

  const branches = program
    .command('branches')
    .description('list the branches pgpromote made of prod, and whether each is stale; --delete-stale deletes the stale ones')
    .requiredOption('--prod <url>', 'the prod database');
  withBranchTarget(branches)
    .option('--delete-stale', 'delete trial and backup branches whose promotion has ended (never a salvage copy of prod)')
    .action(async (options) => {
      const [{ createBranchProvider }, { judgeBranches, temporalRunStatus }, { activityDeps, loadConfig }] = await Promise.all([
        import('../activities/branches/index.ts'), import('../activities/branches/stale.ts'), import('../worker/config.ts'),
      ]);
      const provider = createBranchProvider(branchTarget(options), options.prod, activityDeps(loadConfig()).neon);
      await withPromotions(async (client) => {
        for (const { branch, stale, reason } of await judgeBranches(await provider.list(), temporalRunStatus(client.temporal.connection))) {
          if (stale && options.deleteStale) await provider.delete(branch.id);
          const verdict = options.deleteStale ? (stale ? 'deleted' : 'skipped') : stale ? 'stale' : 'kept';
          console.log(`${branch.name}\t${verdict}: ${reason}`);
        }
      });
    });

  program
    .command('status <id>')
    .description('show a promotion: stage, plan, trial, decision, result (with no worker running, the state it last recorded)')
    .option('--json', 'print exactly one JSON document (see README, "JSON output")')
    .action(async (id: string, options) => {
      await withPromotions(async (client) => {
        const state = await client.status(id);
        console.log(options.json ? JSON.stringify(statusDocument(state), null, 2) : formatState(state));
      });
    });

  const stage = new Option('--stage <stage>', 'only promotions in this stage');
  // The stages live beside the workflow, whose module loads the Temporal SDK: fetched only when `list` parses its options.
  program.hook('preSubcommand', async (_program, command) => {
    if (command.name() === 'list') stage.choices((await import('../workflows/visibility.ts')).STAGES);
  });
  program
    .command('list')
    .description('list promotions, newest first (the server\'s visibility store answers: it may be a second or so behind)')
    .addOption(stage)
    .option('--prod <url>', 'only promotions of this prod: its connection URL (no password needed), or neon:<project>/<branch>')
    .option('--json', 'print exactly one JSON array of {id, stage, outcome?, prod, startedAt, ended?}')
    .action(async (options) => {
      await withPromotions(async (client) => {
        const promotions = await client.list({ stage: options.stage, prodUrl: options.prod });
        console.log(options.json ? JSON.stringify(promotions, null, 2) : formatList(promotions));
      });
    });

  decision(program, 'answer', 'answer the open questions of a promotion\'s plan (renamed or dropped?); it plans again with the answers')
    .option('--rename <old=new>', 'the object was renamed, e.g. users.name=users.full_name (repeatable)', collect)
    .option('--drop <object>', 'the object is dropped on purpose, e.g. users.nickname (repeatable)', collect)
    .option('--answers <file>', 'JSON file of {questionId: answer}')
    .action(async (id: string, options) => {
      await withPromotions(async (client) => {
        const state = await client.answer(id, {
          by: options.as, comment: options.comment, renames: options.rename, drops: options.drop, answers: options.answers ? readAnswers(options.answers) : undefined,
        });
        console.log(`answered; ${id} plans again with ${Object.keys(state.answered.at(-1)?.answers ?? {}).length} new answer(s) — follow it with: pgpromote status ${id}`);
      });
    });

  decision(program, 'approve', 'approve the plan a promotion waits on, and apply it to prod')
    .option('--plan <hash>', 'the plan hash you reviewed (refused if the promotion waits on another)')
    .option('--accept-data-loss', 'approve a plan whose hazards include data loss (refused without it)')
    .action(async (id: string, options) => {
      await withPromotions(async (client) => {
        await client.approve(id, { by: options.as, comment: options.comment, planHash: options.plan, acceptDataLoss: options.acceptDataLoss === true });
        console.log(`approved ${id}; applying to prod — follow it with: pgpromote status ${id}`);
      });
    });

  decision(program, 'reject', 'reject a promotion: prod stays as it is, its branch is deleted')
    .action(async (id: string, options) => {
      await withPromotions(async (client) => {
        await client.reject(id, { by: options.as, comment: options.comment });
        console.log(`rejected ${id}`);
      });
    });

  decision(program, 'cancel', 'cancel a promotion before it touches prod: its branches are deleted, prod stays as it is')
    .action(async (id: string, options) => {
      await withPromotions(async (client) => {
        await client.cancel(id, { by: options.as, comment: options.comment });
        console.log(`cancelled ${id}`);
      });
    });

  decision(program, 'revert', 'put prod back as it was before the apply (within the promotion\'s revert window); prod\'s state at that moment is kept as a branch')
    .action(async (id: string, options) => {
      await withPromotions(async (client) => {
        const state = await client.revert(id, { by: options.as, comment: options.comment });
        console.log(`reverted ${id}: prod is back to its backup; its state before the revert is kept as ${state.revert?.keptAs}`);
      });
    });

  program
    .command('ui')
    .description('serve the approval page: promotions, their plans, questions and previews, and forms to answer, approve and reject')
    .option('--port <n>', 'port to listen on', parsePort, 8234)
    .option('--host <address>', 'address to listen on (only this machine by default)', '127.0.0.1')
    .option('--identity-header <name>', 'who approves, from this header of a trusted reverse proxy, e.g. X-Forwarded-Email')
    .option('--tokens <file>', 'who approves, from per-user tokens: JSON {"<token>": "<person>"}')
    .option('--origin <url>', 'the page\'s public origin behind a proxy, e.g. https://approvals.example.com (POSTs from any other are refused)')
    .action(async (options) => {
      const [{ identitySettings }, { startUi }] = await Promise.all([import('./ui/security.ts'), import('./ui/server.ts')]);
      const identity = identitySettings(options);
      await withPromotions(async (client) => {
        const server = await startUi(client, { ...identity, host: options.host, port: options.port });
        console.log(`approval page on ${server.url}${identity.tokens ? ` (sign in once with ${server.url}/login?token=<token>)` : ''}; Ctrl-C stops it`);
        await new Promise((resolve) => ['SIGINT', 'SIGTERM'].forEach((signal) => process.once(signal, resolve)));
        await server.close();
      });
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  // `pgpromote plan ... | head`: once the reader is gone there is nobody left to tell anything.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(0);
  });
  try {
    await buildCli().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    // Usage errors exit 2 (commander's own: an unknown option, a missing argument; ours: an argument wrong
    // as written); every other refusal exits 1.
    const code = (error as { code?: string }).code;
    if (code?.startsWith('commander.')) return code === 'commander.helpDisplayed' || code === 'commander.version' ? 0 : 2;
    // By name: the classes of the commands' own modules are loaded only by the commands that throw them.
    const name = (error as Error).name;
    const known = ['UsageError', 'ArgumentError', 'RefusedError', 'DatabaseConfigError', 'DatabaseUnreachableError', 'PlanInputError'].includes(name);
    console.error(`pgpromote: ${(error as Error).message}`);
    if (!known && process.env.PGPROMOTE_DEBUG) console.error(error);
    return name === 'ArgumentError' ? 2 : 1;
  }
}
