// The approval page (`pgpromote ui`): its security at the HTTP level, and a reviewer's whole path in a
// real browser (Debian's chromium driven by playwright-core). Real worker, Temporal dev server, Postgres.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import { databasePairs, sql } from './support.ts';
import { pgpromote, root } from './cli-process.ts';
import { startWorker, type TestWorker } from './worker.ts';
import { identitySettings } from '../client/ui/security.ts';
import { startUi, type UiServer } from '../client/ui/server.ts';
import { CHROMIUM_ADVICE, chromiumPath, hasChromium } from '../scripts/chromium.ts';
import { PROD_DATA, RELEASE_1, RELEASE_2_CHANGES } from '../scripts/demo-app.ts';
import type { PreviewTarget } from '../activities/preview/provider.ts';

const DEMO_APP: PreviewTarget = { provider: 'command', command: `'${process.execPath}' --import tsx scripts/demo-web.ts`, cwd: root, health: '/healthz' };
const ALICE = randomBytes(16).toString('hex');
const BOB = randomBytes(16).toString('hex');

let worker: TestWorker;
let ui: UiServer;
let tokensDir: string;
let tokens: string;
const databases = databasePairs();

beforeAll(async () => {
  worker = await startWorker();
  tokensDir = mkdtempSync(path.join(tmpdir(), 'pgpromote-ui-'));
  tokens = path.join(tokensDir, 'tokens.json');
  writeFileSync(tokens, JSON.stringify({ [ALICE]: 'alice', [BOB]: 'bob' }));
  ui = await startUi(worker.client, { ...identitySettings({ tokens, identityHeader: 'X-Forwarded-Email' }), host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await ui?.close();
  await worker?.stop();
  if (tokensDir) rmSync(tokensDir, { recursive: true, force: true });
  await databases.dropAll();
});

async function deploy(prodSchema: string, devSchema: string, options: { drops?: string[]; preview?: PreviewTarget } = {}) {
  const { prod, dev } = await databases.pair(prodSchema, devSchema);
  return { id: await worker.client.deploy({ dev: dev.url, prod: prod.url, ...options }), prod };
}

const columns = async (database: string, table: string) =>
  (await sql(`SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '${table}' ORDER BY ordinal_position`, database)).rows.map(
    (row) => row.column_name,
  );

/** A signed-in visitor (by token, or by the proxy's header) with the CSRF cookie its first page set. */
async function visitor(identity: Record<string, string>) {
  const first = await fetch(`${ui.url}/`, { headers: identity });
  expect(first.status).toBe(200);
  const csrf = /pgpromote_csrf=([0-9a-f]+)/.exec(first.headers.get('set-cookie') ?? '')![1];
  return {
    csrf,
    post(where: string, fields: Record<string, string>, { headers = identity, origin = ui.url, withCsrf = true } = {}) {
      return fetch(`${ui.url}${where}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { ...headers, origin, cookie: `pgpromote_csrf=${csrf}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...fields, ...(withCsrf && { csrf }) }),
      });
    },
  };
}

/** `pgpromote ui` as a user runs it: once it serves, the status of an anonymous GET is taken and it is stopped with SIGTERM. */
function serveUi(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; anonymous?: number }> {
  const child = spawn(process.execPath, ['bin/pgpromote.mjs', 'ui', ...args], { cwd: root, env: { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress') }, timeout: 60_000 });
  const output: { stdout: string; stderr: string; anonymous?: number } = { stdout: '', stderr: '' };
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output.stderr += chunk));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output.stdout += chunk;
    const url = /approval page on (http:\/\/[^\s;]+)/.exec(output.stdout)?.[1];
    if (url && output.anonymous === undefined) {
      output.anonymous = 0; // asked once
      void fetch(`${url}/`).then((response) => (output.anonymous = response.status)).finally(() => child.kill('SIGTERM'));
    }
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, ...output }));
  });
}

describe('pgpromote ui', () => {
  it('refuses to start without a way to tell who approves; serves on 127.0.0.1 by default until stopped', async () => {
    const refused = await pgpromote(['ui', '--port', '0']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('the approval page needs to know who approves: give --identity-header NAME');
    expect(refused.stdout).toBe('');
    const weak = path.join(tokensDir, 'weak.json');
    writeFileSync(weak, JSON.stringify({ abc: 'alice' }));
    const weakRefused = await pgpromote(['ui', '--tokens', weak]);
    expect(weakRefused.code).toBe(1);
    expect(weakRefused.stderr).toContain('the token of alice is shorter than 16 characters: make one with `openssl rand -hex 16`');

    const served = await serveUi(['--tokens', tokens, '--port', '0']);
    expect(served.stdout).toMatch(/^approval page on http:\/\/127\.0\.0\.1:\d+ \(sign in once with /);
    expect(served.anonymous).toBe(401);
    expect(served.code).toBe(0);
  });
});

describe('the approval page over HTTP', () => {
  it('refuses a POST without identity (401), without the CSRF token or from another origin (403); shows a refusal\'s reason; takes the name from the proxy, never from the form', async () => {
    const { id, prod } = await deploy(
      `CREATE TABLE users (id serial PRIMARY KEY, name text, nickname text); INSERT INTO users (name, nickname) SELECT 'u' || i, 'n' || i FROM generate_series(1, 5) i;`,
      'CREATE TABLE users (id serial PRIMARY KEY, name text, email text);',
      { drops: ['users.nickname'] },
    );
    const waiting = await worker.client.waitForStage(id, ['awaiting-approval', 'finished']);
    expect(waiting.stage).toBe('awaiting-approval');
    const planHash = waiting.plan!.planHash;
    const page = `/promotions/${id}`;

    const anonymous = await fetch(`${ui.url}${page}`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).toContain('/login?token=');
    expect((await fetch(`${ui.url}/login?token=${'0'.repeat(32)}`, { redirect: 'manual' })).status).toBe(401);
    const login = await fetch(`${ui.url}/login?token=${ALICE}&next=//evil.example/`, { redirect: 'manual' });
    expect(login.headers.get('location')).toBe('/'); // only a path of this page
    expect(login.headers.get('set-cookie')).toMatch(/^pgpromote_session=\w+; Path=\/; HttpOnly; SameSite=Lax$/);

    const alice = await visitor({ authorization: `Bearer ${ALICE}` });
    const shown = await (await fetch(`${ui.url}${page}`, { headers: { authorization: `Bearer ${ALICE}` } })).text();
    expect(shown).toContain(`name="planHash" value="${planHash}"`);
    expect(shown).toContain('name="acceptDataLoss"'); // nickname's 5 values are lost
    expect(shown).toContain('signed in as <b>alice</b>');
    // How each statement runs, and what it took on the trial branch.
    expect(shown).toMatch(/ALTER TABLE &quot;users&quot; DROP COLUMN &quot;nickname&quot;;<\/pre><small class="execution">alter_table_drop_column · in the main transaction · ACCESS EXCLUSIVE lock · lock timeout 2 s · statement timeout 15 min · \d+ ms on the trial branch<\/small>/);
    expect(shown).toContain('Lock-retry budget: 5 min');

    const approve = { planHash, acceptDataLoss: 'yes' };
    const noIdentity = await alice.post(`${page}/approve`, approve, { headers: {} });
    expect(noIdentity.status).toBe(401);
    expect((await alice.post(`${page}/approve`, approve, { withCsrf: false })).status).toBe(403);
    expect((await alice.post(`${page}/approve`, { ...approve, csrf: randomBytes(32).toString('hex') }, { withCsrf: false })).status).toBe(403);
    expect((await alice.post(`${page}/approve`, approve, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await alice.post(`${page}/constructor`, approve)).status).toBe(404);
    expect((await worker.client.status(id)).approvals).toEqual([]);

    const stale = await alice.post(`${page}/approve`, { planHash: 'f'.repeat(64), acceptDataLoss: 'yes' });
    expect(stale.status).toBe(409);
    expect(await stale.text()).toContain(`refused &quot;approve&quot;: the promotion waits on plan ${planHash}, not &quot;${'f'.repeat(64)}&quot;`);
    const withoutLoss = await alice.post(`${page}/approve`, { planHash });
    expect(withoutLoss.status).toBe(409);
    expect(await withoutLoss.text()).toContain('the plan loses data');

    // Through the proxy's header: the form's `by` is not who approves.
    const carol = await visitor({ 'x-forwarded-email': 'carol@example.com' });
    const accepted = await carol.post(`${page}/approve`, { ...approve, by: 'mallory' });
    expect(accepted.status).toBe(303);
    expect(accepted.headers.get('location')).toBe(`${page}?done=approve`);
    const applied = await worker.client.result(id);
    expect(applied.outcome).toBe('applied');
    expect(applied.approvals.map((approval) => approval.by)).toEqual(['carol@example.com']);
    expect(await columns(prod.name, 'users')).toEqual(['id', 'name', 'email']);
  });

  it('shows dev\'s names as text: a column named <script>alert(1)</script> never becomes markup', async () => {
    const hostile = '<script>alert(1)</script>';
    const { id } = await deploy('CREATE TABLE notes (id serial PRIMARY KEY, body text);', `CREATE TABLE notes (id serial PRIMARY KEY, "${hostile}" text);`);
    const asking = await worker.client.waitForStage(id, ['awaiting-answers', 'finished']);
    expect(asking.plan!.questions.map((question) => question.candidates)).toEqual([[`public.notes.${hostile}`]]);
    const page = await (await fetch(`${ui.url}/promotions/${id}`, { headers: { authorization: `Bearer ${BOB}` } })).text();
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).not.toContain(hostile);

    // The list finds it by stage once the server's visibility store has caught up; a stage that is not one is refused.
    const list = (query: string) => fetch(`${ui.url}/?${query}`, { headers: { authorization: `Bearer ${BOB}` } });
    let listed = '';
    for (let tries = 0; !listed.includes(`href="/promotions/${id}"`) && tries < 50; tries++) {
      if (tries) await new Promise((resolve) => setTimeout(resolve, 200));
      listed = await (await list('stage=awaiting-answers')).text();
    }
    expect(listed).toContain(`href="/promotions/${id}"`);
    expect(listed).toMatch(new RegExp(`${id}</a></td><td>awaiting-answers</td><td><code>postgres://127\\.0\\.0\\.1:\\d+/prod_`));
    expect(await (await list('stage=finished')).text()).not.toContain(id);
    expect((await list(`stage=${encodeURIComponent("x' OR '1'='1")}`)).status).toBe(400);
    await worker.client.reject(id, { by: 'bob' });
  });
});

describe('the approval page in a real browser', () => {
  it('a reviewer answers the rename question, sees the plan and the preview, approves, and prod changes', async () => {
    expect(hasChromium(), `${chromiumPath()} is missing: ${CHROMIUM_ADVICE}`).toBe(true);
    // dev renamed users.name to display_name; nobody said so at deploy: the promotion asks.
    const { id, prod } = await deploy(RELEASE_1 + PROD_DATA, RELEASE_1 + RELEASE_2_CHANGES, { preview: DEMO_APP });
    expect((await worker.client.waitForStage(id, ['awaiting-answers', 'finished'])).stage).toBe('awaiting-answers');

    const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const blocked: string[] = [];
      page.on('console', (message) => /Content Security Policy/i.test(message.text()) && blocked.push(message.text()));
      await page.goto(`${ui.url}/login?token=${ALICE}&next=/promotions/${id}`);
      expect(new URL(page.url()).pathname).toBe(`/promotions/${id}`); // the token is not left in the address bar

      // Nothing chosen: the workflow refuses, and the page says why.
      await page.getByRole('button', { name: 'Answer' }).click();
      await page.getByRole('alert').getByText('give at least one answer').waitFor();

      await page.getByLabel('renamed to public.users.display_name').check();
      const answered = page.waitForResponse((response) => response.request().method() === 'POST');
      await page.getByRole('button', { name: 'Answer' }).click();
      expect((await answered).headers().location).toBe(`/promotions/${id}?done=answer`);

      // The page follows the promotion by itself (its script polls the stage) until it waits for approval.
      const approve = page.getByRole('button', { name: /^Approve plan/ });
      await approve.waitFor({ timeout: 240_000 });
      const state = await worker.client.status(id);
      expect(state.stage).toBe('awaiting-approval');
      await page.getByText(/RENAME COLUMN "name" TO "display_name"/).first().waitFor();
      expect(await page.getByRole('link', { name: state.preview!.url }).getAttribute('href')).toBe(state.preview!.url);
      await page.getByText(/statements in \d+ ms on the branch/).waitFor();
      mkdirSync(path.join(root, 'test-results'), { recursive: true });
      await page.screenshot({ path: path.join(root, 'test-results', 'ui-promotion.png'), fullPage: true });

      const approved = page.waitForResponse((response) => response.request().method() === 'POST');
      await approve.click();
      expect((await approved).headers().location).toBe(`/promotions/${id}?done=approve`);
      expect((await worker.client.result(id)).outcome).toBe('applied');
      expect(await columns(prod.name, 'users')).toContain('display_name');
      expect(blocked).toEqual([]); // nothing refused by the page's Content-Security-Policy
    } finally {
      await browser.close();
    }
  });
});
