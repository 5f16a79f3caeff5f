// Branches on Neon, through the official API client. Every call is retried on the statuses Neon
// documents as transient, and every change waits for its operations, so a returned branch is usable.
import { createApiClient, EndpointType, type Operation } from '@neondatabase/api-client';
import { setTimeout as sleep } from 'node:timers/promises';
import { existingBranchAction, readMeta } from './meta.ts';
import {
  BRANCH_PREFIX,
  type Branch,
  type BranchMeta,
  type BranchProvider,
  type BranchRef,
  type BranchTarget,
  type ListedBranch,
  type Restored,
} from './provider.ts';

export type NeonTarget = Omit<Extract<BranchTarget, { provider: 'neon' }>, 'provider'>;

export interface NeonProviderOptions {
  apiKey: string;
  /** Defaults to the Neon console API v2. */
  baseURL?: string;
  /** Tries per call, counting the first. */
  attempts?: number;
  /** First retry delay; it doubles on each retry, up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** How often to poll a running operation, and how long to wait for it at most. */
  pollIntervalMs?: number;
  operationTimeoutMs?: number;
}

/** A failed Neon call. Carries no request details: axios errors hold the API key in their headers. */
export class NeonError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'NeonError';
  }
}

// 423: another operation holds the branch; the others are rate limits and transient server errors.
const RETRYABLE = new Set([423, 429, 500, 502, 503, 504]);
const DONE = new Set(['finished', 'skipped']);
const FAILED = new Set(['failed', 'error', 'cancelling', 'cancelled']);

// Who made a branch, as Neon branch annotations (string values, shown in the Neon console).
const ANNOTATION_KEYS = { promotionId: 'pgpromote-promotion-id', runId: 'pgpromote-run-id', kind: 'pgpromote-kind', namespace: 'pgpromote-namespace' } as const;
const toAnnotation = (meta: BranchMeta): Record<string, string> =>
  Object.fromEntries(Object.entries(ANNOTATION_KEYS).map(([field, key]) => [key, meta[field as keyof BranchMeta]]));
const fromAnnotation = (value: Record<string, string> | undefined) =>
  value && readMeta(Object.fromEntries(Object.entries(ANNOTATION_KEYS).map(([field, key]) => [field, value[key]])));

export class NeonBranchProvider implements BranchProvider {
  private readonly api: ReturnType<typeof createApiClient>;
  private readonly options: Required<Omit<NeonProviderOptions, 'apiKey' | 'baseURL'>>;

  constructor(
    private readonly target: NeonTarget,
    { apiKey, baseURL, ...options }: NeonProviderOptions,
  ) {
    this.api = createApiClient({ apiKey, ...(baseURL && { baseURL }), timeout: 60_000 });
    this.options = { attempts: 6, baseDelayMs: 500, maxDelayMs: 15_000, pollIntervalMs: 1_000, operationTimeoutMs: 600_000, ...options };
  }

  async create(name: string, meta: BranchMeta): Promise<Branch> {
    const { projectId, branchId, databaseName, roleName } = this.target;
    const stale = await this.call(`creating branch "${name}"`, () => this.find(name));
    if (stale && existingBranchAction(name, stale.meta, meta) === 'replace') await this.delete(stale.id);
    // Looking before each try makes a retried POST (say after a 500 that did create it) reuse the branch.
    const made = await this.call(`creating branch "${name}"`, async () => {
      const existing = await this.find(name);
      if (existing) {
        existingBranchAction(name, existing.meta, meta); // made by this run, or refused
        return { branch: existing, operations: [] };
      }
      const { data } = await this.api.createProjectBranch(projectId, {
        branch: { parent_id: branchId, name },
        endpoints: [{ type: EndpointType.ReadWrite }],
        annotation_value: toAnnotation(meta),
      });
      return data;
    });
    const { id } = made.branch;
    try {
      await this.settle(made.operations, `creating branch "${name}"`);
      // A reused branch may still be starting, from an earlier try that did not wait for it.
      await this.untilReady(id, name);
      const { data } = await this.call(`getting the connection URI of branch "${name}"`, () =>
        this.api.getConnectionUri({ projectId, branch_id: id, database_name: databaseName, role_name: roleName }),
      );
      return { id, name, url: data.uri };
    } catch (err) {
      // A half-made branch is never left behind; the next try makes a fresh one.
      const leaked = await this.delete(id).then(
        () => '',
        (cleanup: Error) => ` Deleting the half-made branch ${id} failed too, delete it by hand: ${cleanup.message}`,
      );
      throw new NeonError(`${(err as Error).message}${leaked}`, (err as NeonError).status);
    }
  }

  async delete(id: string): Promise<void> {
    const { projectId, branchId } = this.target;
    if (id === branchId) throw new NeonError(`refusing to delete branch ${id}: it is prod's branch`);
    const what = `deleting branch ${id}`;
    try {
      const { data } = await this.call(what, () => this.api.deleteProjectBranch({ projectId, branchId: id }));
      await this.settle(data?.operations ?? [], what); // 204 (already gone) has no body
    } catch (err) {
      if ((err as NeonError).status !== 404) throw err;
      // Some API versions answer 404 for a missing branch: fine, if the project itself is reachable.
      await this.call(`checking project ${projectId}`, () => this.api.getProjectBranch(projectId, branchId));
    }
  }

  async list(): Promise<ListedBranch[]> {
    const { data } = await this.call('listing branches', () =>
      this.api.listProjectBranches({ projectId: this.target.projectId, search: BRANCH_PREFIX }),
    );
    // `search` matches anywhere in the name or id; ours start with the prefix.
    return data.branches
      .filter((b) => b.name.startsWith(BRANCH_PREFIX) && b.id !== this.target.branchId)
      .map(({ id, name }) => ({ id, name, meta: fromAnnotation(data.annotations[id]?.value) }));
  }

  /** Neon's restore: prod keeps its id and takes the source's data; the backup is checked to exist first. Neon cannot annotate the kept branch: its name says what it is. */
  async restore(source: BranchRef, keepAs: string): Promise<Restored> {
    const { projectId, branchId } = this.target;
    const what = `restoring prod from branch "${source.name}"`;
    await this.call(`checking the backup branch "${source.name}"`, () => this.api.getProjectBranch(projectId, source.id)).catch((err: NeonError) => {
      throw err.status === 404 ? new NeonError(`cannot revert: the backup branch "${source.name}" (${source.id}) is gone; prod was not touched`, 404) : err;
    });
    // `keepAs` exists only once a restore went through: then a retry must not restore again.
    const operations = await this.call(what, async () => {
      if (await this.find(keepAs)) return [];
      const { data } = await this.api.restoreProjectBranch(projectId, branchId, {
        source_branch_id: source.id,
        preserve_under_name: keepAs,
      });
      return data.operations;
    });
    await this.settle(operations, what);
    const kept = await this.call(`finding branch "${keepAs}"`, () => this.find(keepAs));
    if (!kept) throw new NeonError(`Neon restored prod but no branch "${keepAs}" holds its previous state`);
    await this.untilReady(branchId, 'prod');
    const { data } = await this.call('checking prod\'s branch', () => this.api.getProjectBranch(projectId, branchId));
    return { prod: { id: branchId, name: data.branch.name }, kept: { id: kept.id, name: kept.name } };
  }

  /** The branch with exactly this name, with its metadata; one raw call, so callers choose how to retry it. */
  private async find(name: string) {
    const { data } = await this.api.listProjectBranches({ projectId: this.target.projectId, search: name });
    const branch = data.branches.find((b) => b.name === name);
    return branch && { ...branch, meta: fromAnnotation(data.annotations[branch.id]?.value) };
  }

  /** Waits until every operation has finished; one that failed becomes an error. */
  private async settle(operations: Operation[], what: string): Promise<void> {
    for (const started of operations) {
      await this.poll(what, async () => {
        const { data } = await this.call(`checking operation ${started.action} of ${what}`, () =>
          this.api.getProjectOperation(this.target.projectId, started.id),
        );
        const { status, error } = data.operation;
        if (FAILED.has(status)) {
          throw new NeonError(`Neon operation ${started.action} (${started.id}) ended "${status}" while ${what}${error ? `: ${error}` : ''}`);
        }
        return DONE.has(status);
      });
    }
  }

  private async untilReady(id: string, name: string): Promise<void> {
    await this.poll(`waiting for branch "${name}" to be ready`, async () => {
      const { data } = await this.call(`checking branch "${name}"`, () => this.api.getProjectBranch(this.target.projectId, id));
      return data.branch.current_state === 'ready';
    });
  }

  private async poll(what: string, done: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + this.options.operationTimeoutMs;
    while (!(await done())) {
      if (Date.now() > deadline) throw new NeonError(`Timed out after ${this.options.operationTimeoutMs} ms ${what}`);
      await sleep(this.options.pollIntervalMs);
    }
  }

  /** Runs one API call, retrying transient failures with exponential backoff; explains the rest. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const { attempts, baseDelayMs, maxDelayMs } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const status = (err as { response?: { status?: number } }).response?.status;
        // No response at all (connection refused, reset, timeout) is as transient as a 503.
        const transient = status === undefined ? (err as { isAxiosError?: boolean }).isAxiosError === true : RETRYABLE.has(status);
        if (!transient || attempt >= attempts) throw explain(err, what, attempt);
        // Up to 25% jitter on top, so parallel workers do not retry in lockstep.
        await sleep(Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)) * (1 + Math.random() / 4));
      }
    }
  }
}

function explain(err: unknown, what: string, attempts: number): Error {
  if (err instanceof NeonError) return err;
  const e = err as { isAxiosError?: boolean; message?: string; response?: { status: number; data?: { message?: string } } };
  if (!e.isAxiosError) return err as Error;
  if (!e.response) return new NeonError(`Could not reach the Neon API while ${what} (${attempts} tries): ${e.message}`);
  const { status, data } = e.response;
  const said = data?.message ? `: ${data.message}` : '';
  if (status === 401 || status === 403) {
    return new NeonError(`Neon rejected the API key (HTTP ${status}) while ${what}${said}. Check that the key is valid and may use this project.`, status);
  }
  if (status === 404) {
    return new NeonError(`Neon found no such project or branch (HTTP 404) while ${what}${said}. Check projectId and branchId of the Neon branch target.`, status);
  }
  const tries = RETRYABLE.has(status) ? ` after ${attempts} tries` : '';
  return new NeonError(`Neon API answered HTTP ${status}${tries} while ${what}${said}`, status);
}
