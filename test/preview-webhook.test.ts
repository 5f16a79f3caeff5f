// The webhook preview against a loopback deploy system: signed requests, a retry on 503, readiness by
// async activity completion or by a status URL, DELETE at clean-up, and a clear failure on 4xx.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { databasePairs } from './support.ts';
import { startWorker, type TestWorker } from './worker.ts';
import { SIGNATURE_HEADER, signature } from '../activities/preview/webhook.ts';

const SECRET = randomUUID();
const APP = 'CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1), (2);';

interface Received {
  method: string;
  path: string;
  body: any;
  signed: boolean;
}

/** A deploy system as a platform would run one: it checks signatures and answers as `answer` says. */
async function startDeploySystem(answer: (request: Received, calls: number) => { status: number; body?: object }) {
  const received: Received[] = [];
  const server = http.createServer((request, response) => {
    let text = '';
    request.setEncoding('utf8').on('data', (chunk) => (text += chunk));
    request.on('end', () => {
      const header = String(request.headers[SIGNATURE_HEADER] ?? '');
      const timestamp = Number(/^t=(\d+),/.exec(header)?.[1]);
      const expected = Buffer.from(signature(SECRET, text, timestamp));
      const signed = expected.length === header.length && timingSafeEqual(expected, Buffer.from(header)) && Math.abs(Date.now() / 1000 - timestamp) < 300;
      const call: Received = { method: request.method!, path: request.url!, body: text ? JSON.parse(text) : undefined, signed };
      received.push(call);
      const { status, body } = signed ? answer(call, received.length) : { status: 401, body: { message: 'bad signature' } };
      response.writeHead(status, { 'content-type': 'application/json' }).end(body ? JSON.stringify(body) : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, received, close: () => new Promise((resolve) => server.close(resolve)) };
}

let worker: TestWorker;
const pairs = databasePairs();
const databases = () => pairs.pair(APP, `${APP} ALTER TABLE items ADD COLUMN label text;`);

beforeAll(async () => {
  worker = await startWorker({ previewSecret: SECRET });
});
afterAll(async () => {
  await worker?.stop();
  await pairs.dropAll();
});

const branchDatabaseOf = async (url: string) => {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query('SELECT current_database() AS name, (SELECT count(*)::int FROM items) AS items')).rows[0];
  } finally {
    await client.end();
  }
};

describe('webhook preview', () => {
  it('asks the deploy system with a signed request, retries a 503, waits for async completion, and DELETEs at clean-up', async () => {
    const deploySystem = await startDeploySystem((request, calls) => {
      if (request.method === 'POST') return calls === 1 ? { status: 503 } : { status: 202, body: { id: 'pv-1' } };
      return { status: 204 };
    });
    try {
      const { prod, dev } = await databases();
      const id = await worker.client.deploy({ dev: dev.url, prod: prod.url, preview: { provider: 'webhook', url: `${deploySystem.url}/previews` } });
      const preview = await worker.client.waitForStage(id, ['preview', 'finished']);
      expect(preview.stage).toBe('preview');
      while (deploySystem.received.length < 2) await new Promise((resolve) => setTimeout(resolve, 100)); // the retry after the 503
      // The deploy system got what it needs: the promotion, a working URL of the branch, a task token.
      const [refused, asked] = deploySystem.received;
      expect(refused).toMatchObject({ method: 'POST', path: '/previews', signed: true });
      expect(asked).toMatchObject({ method: 'POST', path: '/previews', signed: true, body: { promotionId: id } });
      expect(await branchDatabaseOf(asked!.body.databaseUrl)).toEqual({ name: `pgpromote-${id}-trial`, items: 2 });

      // It builds the preview, then completes the activity with the task token it was given.
      await worker.client.temporal.activity.complete(Buffer.from(asked!.body.taskToken, 'base64'), { id: 'pv-1', url: 'https://pv-1.preview.example.com' });
      const waiting = await worker.client.waitForStage(id, ['awaiting-approval', 'finished']);
      expect(waiting).toMatchObject({ stage: 'awaiting-approval', preview: { id: 'pv-1', url: 'https://pv-1.preview.example.com' } });

      await worker.client.reject(id, { by: 'alice' });
      expect((await worker.client.result(id)).outcome).toBe('rejected');
      expect(deploySystem.received.slice(2)).toEqual([{ method: 'DELETE', path: '/previews/pv-1', body: undefined, signed: true }]);
    } finally {
      await deploySystem.close();
    }
  });

  it('polls a status URL until the deploy system says the preview is ready', async () => {
    let polls = 0;
    const deploySystem = await startDeploySystem((request) => {
      if (request.method === 'POST') return { status: 202, body: { id: 'pv-2', statusUrl: `${deploySystem.url}/previews/pv-2` } };
      if (request.method === 'GET') return ++polls < 3 ? { status: 200, body: { ready: false } } : { status: 200, body: { ready: true, url: 'https://pv-2.example.com' } };
      return { status: 204 };
    });
    try {
      const { prod, dev } = await databases();
      const id = await worker.client.deploy({ dev: dev.url, prod: prod.url, preview: { provider: 'webhook', url: `${deploySystem.url}/previews/` } });
      const waiting = await worker.client.waitForStage(id, ['awaiting-approval', 'finished']);
      expect(waiting).toMatchObject({ stage: 'awaiting-approval', preview: { id: 'pv-2', url: 'https://pv-2.example.com' } });
      expect(polls).toBe(3);
      await worker.client.approve(id, { by: 'alice' });
      expect((await worker.client.result(id)).outcome).toBe('applied');
      expect(deploySystem.received.filter((call) => call.method === 'DELETE').map((call) => call.path)).toEqual(['/previews/pv-2']);
    } finally {
      await deploySystem.close();
    }
  });

  it('fails the promotion with what the deploy system said when it refuses (4xx), without retrying', async () => {
    const deploySystem = await startDeploySystem(() => ({ status: 422, body: { message: 'no app is configured for this database' } }));
    try {
      const { prod, dev } = await databases();
      const id = await worker.client.deploy({ dev: dev.url, prod: prod.url, preview: { provider: 'webhook', url: `${deploySystem.url}/previews` } });
      await expect(worker.client.result(id)).rejects.toThrow(
        `the deploy system refused POST ${deploySystem.url}/previews with 422: {"message":"no app is configured for this database"}`,
      );
      expect(deploySystem.received).toHaveLength(1);
    } finally {
      await deploySystem.close();
    }
  });
});
