// A loopback fake of the Neon console API v2, for tests and demos without a Neon account.
// Branches are real databases on a real local Postgres server, so their connection URIs work.
// Every request and response is checked against the OpenAPI document shipped inside
// @neondatabase/api-client: the fake cannot drift from the API the real client speaks.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import Ajv2019Module from 'ajv/dist/2019.js';
import addFormatsModule from 'ajv-formats';
import pg from 'pg';
import { freePort } from './ports.ts';

// ---------------------------------------------------------------- OpenAPI checks

type Json = any; // parsed YAML/JSON of unknown shape
type Check = (data: unknown) => string[];
type Ajv = InstanceType<typeof Ajv2019Module.default>;

const BASE_PATH = '/api/v2';

/** The OpenAPI 3.0 document as JSON Schema 2019-09 validators, compiled on first use. */
class OpenApi {
  private readonly doc: Json;
  private readonly routes: { method: string; regex: RegExp; names: string[]; item: Json; op: Json }[] = [];
  private readonly bodies: Ajv;
  private readonly params: Ajv;
  private readonly cache = new Map<string, Check>();

  constructor() {
    const pkg = createRequire(import.meta.url).resolve('@neondatabase/api-client/package.json');
    this.doc = parse(readFileSync(path.join(path.dirname(pkg), 'public-v2-for-users.gen.yaml'), 'utf8'));
    const members = allOfMembers(this.doc);
    const $defs = Object.fromEntries(
      Object.entries(this.doc.components.schemas).map(([name, s]) => [name, toJsonSchema(s, members.has(name))]),
    );
    // Parameters arrive as strings: the second instance coerces them to the declared types.
    [this.bodies, this.params] = [false, true].map((coerceTypes) => {
      const ajv = new Ajv2019Module.default({ strict: false, allErrors: true, coerceTypes });
      addFormatsModule.default(ajv);
      // OpenAPI's numeric formats; `type: integer` already checks the value.
      for (const f of ['int32', 'int64', 'uint64', 'int', 'double']) ajv.addFormat(f, { type: 'number', validate: () => true });
      ajv.addFormat('binary', true);
      ajv.addSchema({ $id: 'neon.json', $defs });
      return ajv;
    });
    for (const [template, item] of Object.entries<Json>(this.doc.paths)) {
      const names = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const regex = new RegExp(`^${template.replace(/\{\w+\}/g, '([^/]+)')}$`);
      for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
        if (item[method]) this.routes.push({ method: method.toUpperCase(), regex, names, item, op: item[method] });
      }
    }
    // Literal segments win over parameters (`/branches/count` before `/branches/{branch_id}`).
    this.routes.sort((a, b) => a.names.length - b.names.length);
  }

  match(method: string, pathname: string) {
    for (const route of this.routes) {
      const m = route.method === method ? route.regex.exec(pathname) : null;
      if (!m) continue;
      const pathParams = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
      return { operationId: route.op.operationId as string, route, pathParams };
    }
    return undefined;
  }

  /** Problems with a request; coerces `pathParams` and `query` in place to their declared types. */
  checkRequest(route: { item: Json; op: Json }, pathParams: Json, query: Json, body: unknown): string[] {
    const id = route.op.operationId;
    const params = [...(route.item.parameters ?? []), ...(route.op.parameters ?? [])].map((p: Json) => this.resolve(p));
    const problems = [
      ...this.check(`${id} path`, paramSchema(params, 'path'), this.params)(pathParams),
      ...this.check(`${id} query`, paramSchema(params, 'query'), this.params)(query),
    ];
    const requestBody = route.op.requestBody && this.resolve(route.op.requestBody);
    const schema = requestBody?.content?.['application/json']?.schema;
    if (body === undefined) {
      if (requestBody?.required) problems.push(`${id}: request body is required`);
    } else if (!schema) problems.push(`${id}: takes no request body`);
    else problems.push(...this.check(`${id} request`, strict(schema), this.bodies)(body));
    return problems;
  }

  checkResponse(route: { op: Json }, status: number, body: unknown): string[] {
    const id = route.op.operationId;
    const declared = route.op.responses[status] ?? route.op.responses.default;
    if (!declared) return [`${id}: status ${status} is not a declared response`];
    const schema = this.resolve(declared).content?.['application/json']?.schema;
    if (!schema) return body === undefined ? [] : [`${id}: status ${status} has no body in the spec`];
    if (body === undefined) return [`${id}: status ${status} needs a body`];
    return this.check(`${id} ${status} response`, strict(schema), this.bodies)(body);
  }

  private check(key: string, schema: Json, ajv: Ajv): Check {
    let check = this.cache.get(key);
    if (!check) {
      const validate = ajv.compile(toJsonSchema(schema, true));
      check = (data) =>
        validate(data) ? [] : (validate.errors ?? []).map((e) => `${key}: ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
      this.cache.set(key, check);
    }
    return check;
  }

  /** Follows a local `$ref` to a parameter, request body or response. */
  private resolve(node: Json): Json {
    if (typeof node?.$ref !== 'string') return node;
    return node.$ref.slice(2).split('/').reduce((at: Json, key: string) => at[key], this.doc);
  }
}

/** The body must hold only the properties the spec declares, at every level (drift shows at once). */
const strict = (schema: Json) => ({ allOf: [schema], unevaluatedProperties: false });

function paramSchema(params: Json[], where: 'path' | 'query') {
  const mine = params.filter((p) => p.in === where);
  return {
    type: 'object',
    properties: Object.fromEntries(mine.map((p) => [p.name, p.schema ?? {}])),
    required: mine.filter((p) => p.required).map((p) => p.name),
    additionalProperties: false,
  };
}

/** Names of component schemas used as `allOf` parts: those cannot forbid extra properties themselves. */
function allOfMembers(node: Json, found = new Set<string>()): Set<string> {
  if (node && typeof node === 'object') {
    for (const part of Array.isArray(node.allOf) ? node.allOf : []) {
      if (typeof part?.$ref === 'string') found.add(part.$ref.split('/').pop());
    }
    for (const value of Object.values(node)) allOfMembers(value, found);
  }
  return found;
}

/** OpenAPI 3.0 schema to JSON Schema 2019-09: `nullable`, refs into `$defs`, no undeclared properties. */
function toJsonSchema(s: Json, partOfAllOf = false): Json {
  if (!s || typeof s !== 'object') return s;
  const out: Json = { ...s };
  if (typeof s.$ref === 'string') out.$ref = s.$ref.replace('#/components/schemas/', 'neon.json#/$defs/');
  if (s.properties) out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, toJsonSchema(v)]));
  if (s.items) out.items = toJsonSchema(s.items);
  if (typeof s.additionalProperties === 'object') out.additionalProperties = toJsonSchema(s.additionalProperties);
  if (s.not) out.not = toJsonSchema(s.not);
  for (const k of ['allOf', 'anyOf', 'oneOf']) if (s[k]) out[k] = s[k].map((m: Json) => toJsonSchema(m, k === 'allOf'));
  if (s.properties && s.additionalProperties === undefined && !partOfAllOf) out.unevaluatedProperties = false;
  delete out.nullable;
  return s.nullable === true ? { anyOf: [out, { type: 'null' }] } : out;
}

// ---------------------------------------------------------------- the fake

export interface FakeNeonOptions {
  /** Superuser URL of the Postgres server that holds the branches. */
  postgresUrl: string;
  apiKey?: string;
  /** How long operations stay `running` (ms); `faults.operationDelayMs` changes it later. */
  operationDelayMs?: number;
  /** How long a branch copy waits for other sessions to leave its source database before answering 423. */
  inUseWaitMs?: number;
}

export interface CreateProjectOptions {
  name?: string;
  databaseName?: string;
  /** A Postgres role is server-wide, so the default is unique. */
  roleName?: string;
  /** SQL run as the role in the new prod database. */
  schema?: string;
}

export interface FakeProject {
  projectId: string;
  /** The default (prod) branch. */
  branchId: string;
  databaseName: string;
  roleName: string;
  connectionUri: string;
}

export interface RecordedRequest {
  at: number;
  method: string;
  path: string;
  operationId?: string;
  status: number;
  requestBody?: unknown;
  responseBody?: unknown;
}

type OperationEnd = 'finished' | 'failed' | 'error' | 'cancelled';

export interface FakeNeon {
  /** `http://127.0.0.1:PORT/api/v2`, for `createApiClient({ baseURL })`. */
  baseURL: string;
  apiKey: string;
  createProject(options?: CreateProjectOptions): Promise<FakeProject>;
  /** Names of the real databases behind a project's branches, as the Postgres server lists them. */
  databasesOnServer(projectId: string): Promise<string[]>;
  faults: {
    /** The next `times` requests to `operationId` answer `status` (e.g. 423, 429, 500, 503) instead. */
    failNext(operationId: string, status: number, times?: number): void;
    /** How long operations stay `running` (ms). */
    operationDelayMs: number;
    /** The next `times` operations started end with `status` instead of `finished`. */
    failNextOperations(times?: number, status?: Exclude<OperationEnd, 'finished'>): void;
  };
  requests: RecordedRequest[];
  /** Every spec violation seen, in requests or in the fake's own responses. Tests expect none. */
  validationErrors: string[];
  stop(): Promise<void>;
}

interface BranchRecord {
  id: string;
  name: string;
  parentId?: string;
  isDefault: boolean;
  /** The real database behind the branch. */
  db: string;
  endpointId?: string;
  /** `annotation_value` given at creation: string properties, as Neon keeps them. */
  annotation?: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

interface OperationRecord {
  id: string;
  branchId: string;
  endpointId?: string;
  action: string;
  createdAt: string;
  doneAt: number;
  end: OperationEnd;
}

interface ProjectRecord {
  id: string;
  name: string;
  databaseName: string;
  roleName: string;
  password: string;
  branches: Map<string, BranchRecord>;
  operations: Map<string, OperationRecord>;
  /** Changes to one project run one at a time, as Neon serializes them. */
  queue: Promise<unknown>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const now = () => new Date().toISOString();
const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
/** Every real database of a project starts with this, so leftovers are easy to find. */
const dbPrefix = (projectId: string) => `fakeneon_${projectId.replace(/-/g, '_')}_`;

export async function startFakeNeon(options: FakeNeonOptions): Promise<FakeNeon> {
  const spec = new OpenApi();
  const apiKey = options.apiKey ?? `fake-neon-${hex(12)}`;
  const admin = new pg.Pool({ connectionString: options.postgresUrl, max: 2 });
  admin.on('error', () => {}); // an idle connection dropped by the server (e.g. it stops first) must not crash the process
  const server = new URL(options.postgresUrl);
  const projects = new Map<string, ProjectRecord>();
  const requests: RecordedRequest[] = [];
  const validationErrors: string[] = [];
  const injected: { operationId: string; status: number }[] = [];
  const failingOperations: Exclude<OperationEnd, 'finished'>[] = [];
  const faults: FakeNeon['faults'] = {
    failNext(operationId, status, times = 1) {
      for (let i = 0; i < times; i++) injected.push({ operationId, status });
    },
    operationDelayMs: options.operationDelayMs ?? 50,
    failNextOperations(times = 1, status = 'failed') {
      for (let i = 0; i < times; i++) failingOperations.push(status);
    },
  };

  async function databasesOnServer(projectId: string): Promise<string[]> {
    const like = `${dbPrefix(projectId).replace(/_/g, '\\_')}%`;
    const { rows } = await admin.query('SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname', [like]);
    return rows.map((r) => r.datname as string);
  }

  const uri = (p: ProjectRecord, b: BranchRecord) =>
    `postgres://${p.roleName}:${p.password}@${server.hostname}:${server.port || 5432}/${b.db}`;

  /** Postgres refuses to copy or rename a database that has other sessions: that is Neon's 423. */
  function lockedIfInUse(err: unknown): never {
    if ((err as { code?: string }).code === '55006') throw new ApiError(423, `branch is locked: ${(err as Error).message}`);
    throw err;
  }

  // CREATE DATABASE ... TEMPLATE needs the source to have no other sessions. Neon has no such limit,
  // so the fake waits a little for them to leave, then answers 423 (locked), which clients retry.
  async function copyDatabase(p: ProjectRecord, from: string, to: string): Promise<void> {
    const deadline = Date.now() + (options.inUseWaitMs ?? 2_000);
    const sessions = async () => (await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [from])).rows[0].n;
    while ((await sessions()) > 0) {
      if (Date.now() > deadline) throw new ApiError(423, `branch is locked: its database ${from} has other sessions`);
      await sleep(50);
    }
    await admin.query(`CREATE DATABASE ${ident(to)} TEMPLATE ${ident(from)} OWNER ${ident(p.roleName)}`).catch(lockedIfInUse);
  }

  // -------------------------------------------------- state helpers

  const statusOf = (op: OperationRecord) => (Date.now() < op.doneAt ? 'running' : op.end);
  const branchOps = (p: ProjectRecord, b: BranchRecord) => [...p.operations.values()].filter((o) => o.branchId === b.id);
  const ready = (p: ProjectRecord, b: BranchRecord) => branchOps(p, b).every((o) => statusOf(o) === 'finished');

  function assertIdle(p: ProjectRecord, b: BranchRecord) {
    if (branchOps(p, b).some((o) => statusOf(o) === 'running')) {
      throw new ApiError(423, `project already has running conflicting operations on branch ${b.id}, scheduling of new ones is prohibited`);
    }
  }

  /** Compute actions apply only to a branch with an endpoint. */
  function startOperations(p: ProjectRecord, b: BranchRecord, actions: string[]): OperationRecord[] {
    const compute = (action: string) => action.endsWith('_compute');
    return actions.filter((a) => b.endpointId || !compute(a)).map((action) => {
      const op: OperationRecord = {
        id: randomUUID(),
        branchId: b.id,
        endpointId: compute(action) ? b.endpointId : undefined,
        action,
        createdAt: now(),
        doneAt: Date.now() + faults.operationDelayMs,
        end: failingOperations.shift() ?? 'finished',
      };
      p.operations.set(op.id, op);
      return op;
    });
  }

  function findProject(id: string): ProjectRecord {
    const p = projects.get(id);
    if (!p) throw new ApiError(404, `project ${id} not found`);
    return p;
  }

  function findBranch(p: ProjectRecord, id: string): BranchRecord {
    const b = p.branches.get(id);
    if (!b) throw new ApiError(404, `branch ${id} not found`);
    return b;
  }

  function newBranch(p: ProjectRecord, name: string, parentId?: string): BranchRecord {
    if ([...p.branches.values()].some((b) => b.name === name)) throw new ApiError(409, `branch with name "${name}" already exists`);
    const id = `br-${hex(4)}`;
    const at = now();
    return { id, name, parentId, isDefault: false, db: `${dbPrefix(p.id)}${id.slice(3)}`, createdAt: at, updatedAt: at };
  }

  // -------------------------------------------------- JSON as the spec shapes it

  const branchJson = (p: ProjectRecord, b: BranchRecord) => ({
    id: b.id,
    project_id: p.id,
    ...(b.parentId && { parent_id: b.parentId, parent_lsn: '0/1A2B3C8' }),
    name: b.name,
    current_state: ready(p, b) ? 'ready' : 'init',
    state_changed_at: b.updatedAt,
    creation_source: 'fake-neon',
    created_at: b.createdAt,
    updated_at: b.updatedAt,
    default: b.isDefault,
    protected: false,
    cpu_used_sec: 0,
    compute_time_seconds: 0,
    active_time_seconds: 0,
    written_data_bytes: 0,
    data_transfer_bytes: 0,
    init_source: 'parent-data',
  });

  const annotationJson = (b: BranchRecord) => ({
    object: { type: 'console/branch', id: b.id },
    value: b.annotation ?? {},
    created_at: b.createdAt,
    updated_at: b.updatedAt,
  });

  const endpointJson = (p: ProjectRecord, b: BranchRecord) => ({
    host: server.hostname,
    id: b.endpointId!,
    project_id: p.id,
    branch_id: b.id,
    region_id: 'aws-us-east-2',
    autoscaling_limit_min_cu: 0.25,
    autoscaling_limit_max_cu: 0.25,
    type: 'read_write',
    current_state: ready(p, b) ? 'active' : 'init',
    settings: {},
    pooler_enabled: false,
    pooler_mode: 'transaction',
    disabled: false,
    passwordless_access: false,
    creation_source: 'fake-neon',
    created_at: b.createdAt,
    updated_at: b.updatedAt,
    proxy_host: server.hostname,
    suspend_timeout_seconds: 0,
    provisioner: 'k8s-neonvm',
  });

  const operationJson = (p: ProjectRecord, o: OperationRecord) => {
    const status = statusOf(o);
    return {
      id: o.id,
      project_id: p.id,
      branch_id: o.branchId,
      ...(o.endpointId && { endpoint_id: o.endpointId }),
      action: o.action,
      status,
      ...(status !== 'running' && status !== 'finished' && { error: `fake-neon: operation ${o.action} ${status} (injected fault)` }),
      failures_count: status === 'running' || status === 'finished' ? 0 : 1,
      created_at: o.createdAt,
      updated_at: status === 'running' ? o.createdAt : new Date(o.doneAt).toISOString(),
      total_duration_ms: Math.max(0, Math.min(Date.now(), o.doneAt) - Date.parse(o.createdAt)),
    };
  };

  // -------------------------------------------------- endpoints, by operationId

  type Handler = (a: { path: Json; query: Json; body: Json }) => Promise<{ status: number; body?: unknown }>;

  function mutate<T>(p: ProjectRecord, fn: () => Promise<T>): Promise<T> {
    const run = p.queue.then(fn, fn);
    p.queue = run.catch(() => {});
    return run;
  }

  const handlers: Record<string, Handler> = {
    async createProjectBranch({ path: { project_id }, body }) {
      const p = findProject(project_id);
      return mutate(p, async () => {
        const defaultBranch = [...p.branches.values()].find((b) => b.isDefault)!;
        const parent = findBranch(p, body?.branch?.parent_id ?? defaultBranch.id);
        assertIdle(p, parent);
        if (body?.branch?.parent_lsn || body?.branch?.parent_timestamp) throw new ApiError(400, 'fake-neon branches from the head only');
        const wanted = body?.endpoints ?? [];
        if (wanted.length > 1 || wanted.some((e: Json) => e.type !== 'read_write')) throw new ApiError(400, 'fake-neon makes at most one read_write endpoint');
        const b = newBranch(p, body?.branch?.name ?? `branch-${hex(3)}`, parent.id);
        if (body?.annotation_value) b.annotation = body.annotation_value;
        await copyDatabase(p, parent.db, b.db);
        if (wanted.length) b.endpointId = `ep-${hex(4)}`;
        p.branches.set(b.id, b);
        const operations = startOperations(p, b, ['create_timeline', 'start_compute']);
        const at = b.createdAt;
        return {
          status: 201,
          body: {
            branch: branchJson(p, b),
            endpoints: b.endpointId ? [endpointJson(p, b)] : [],
            operations: operations.map((o) => operationJson(p, o)),
            roles: [{ branch_id: b.id, name: p.roleName, password: p.password, protected: false, created_at: at, updated_at: at }],
            databases: [{ id: 1, branch_id: b.id, name: p.databaseName, owner_name: p.roleName, created_at: at, updated_at: at }],
            ...(b.endpointId && {
              connection_uris: [
                {
                  connection_uri: uri(p, b),
                  connection_parameters: { database: b.db, password: p.password, role: p.roleName, host: server.hostname, pooler_host: server.hostname },
                },
              ],
            }),
          },
        };
      });
    },

    async getProjectBranch({ path: { project_id, branch_id } }) {
      const p = findProject(project_id);
      const b = findBranch(p, branch_id);
      return {
        status: 200,
        body: { branch: branchJson(p, b), annotation: annotationJson(b) },
      };
    },

    async listProjectBranches({ path: { project_id }, query: { search } }) {
      const p = findProject(project_id);
      const found = [...p.branches.values()].filter((b) => !search || b.name.includes(search) || b.id.includes(search));
      found.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
      // Like Neon, the map holds only branches that have annotations.
      const annotations = Object.fromEntries(found.filter((b) => b.annotation).map((b) => [b.id, annotationJson(b)]));
      return { status: 200, body: { branches: found.map((b) => branchJson(p, b)), annotations } };
    },

    async deleteProjectBranch({ path: { project_id, branch_id } }) {
      const p = findProject(project_id);
      return mutate(p, async () => {
        const b = p.branches.get(branch_id);
        if (!b) return { status: 204 }; // as the spec says: missing or already deleted
        if (b.isDefault) throw new ApiError(400, 'cannot delete the default branch');
        assertIdle(p, b);
        await admin.query(`DROP DATABASE IF EXISTS ${ident(b.db)} WITH (FORCE)`);
        p.branches.delete(b.id);
        const operations = startOperations(p, b, ['suspend_compute', 'delete_timeline']);
        return { status: 200, body: { branch: branchJson(p, b), operations: operations.map((o) => operationJson(p, o)) } };
      });
    },

    // Prod (`branch_id`) takes the source's data in place, so its id and URI stay; its old state
    // becomes a new branch named `preserve_under_name`. Like Neon, this breaks prod's sessions.
    async restoreProjectBranch({ path: { project_id, branch_id }, body }) {
      const p = findProject(project_id);
      return mutate(p, async () => {
        const target = findBranch(p, branch_id);
        const source = findBranch(p, body.source_branch_id);
        if (source === target) throw new ApiError(400, 'cannot restore a branch from itself');
        if (body.source_lsn || body.source_timestamp) throw new ApiError(400, 'fake-neon restores from the head only');
        assertIdle(p, target);
        assertIdle(p, source);
        const kept = body.preserve_under_name ? newBranch(p, body.preserve_under_name) : undefined;
        const incoming = `${target.db}_new`;
        await copyDatabase(p, source.db, incoming);
        try {
          // No new sessions may slip in between ending the old ones and the rename.
          await admin.query(`ALTER DATABASE ${ident(target.db)} ALLOW_CONNECTIONS false`);
          await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [target.db]);
          await admin
            .query(kept ? `ALTER DATABASE ${ident(target.db)} RENAME TO ${ident(kept.db)}` : `DROP DATABASE ${ident(target.db)} WITH (FORCE)`)
            .catch(lockedIfInUse);
        } catch (err) {
          await admin.query(`ALTER DATABASE ${ident(target.db)} ALLOW_CONNECTIONS true`).catch(() => {});
          await admin.query(`DROP DATABASE ${ident(incoming)}`);
          throw err;
        }
        if (kept) {
          await admin.query(`ALTER DATABASE ${ident(kept.db)} ALLOW_CONNECTIONS true`);
          p.branches.set(kept.id, kept);
        }
        await admin.query(`ALTER DATABASE ${ident(incoming)} RENAME TO ${ident(target.db)}`);
        target.updatedAt = now();
        const operations = startOperations(p, target, ['create_timeline', 'start_compute']);
        return { status: 200, body: { branch: branchJson(p, target), operations: operations.map((o) => operationJson(p, o)) } };
      });
    },

    async getConnectionURI({ path: { project_id }, query }) {
      const p = findProject(project_id);
      const b = findBranch(p, query.branch_id ?? [...p.branches.values()].find((x) => x.isDefault)!.id);
      if (!b.endpointId || (query.endpoint_id && query.endpoint_id !== b.endpointId)) throw new ApiError(404, `no read_write endpoint on branch ${b.id}`);
      if (query.database_name !== p.databaseName) throw new ApiError(404, `database ${query.database_name} not found`);
      if (query.role_name !== p.roleName) throw new ApiError(404, `role ${query.role_name} not found`);
      return { status: 200, body: { uri: uri(p, b) } };
    },

    async getProjectOperation({ path: { project_id, operation_id } }) {
      const p = findProject(project_id);
      const o = p.operations.get(operation_id);
      if (!o) throw new ApiError(404, `operation ${operation_id} not found`);
      return { status: 200, body: { operation: operationJson(p, o) } };
    },
  };

  // -------------------------------------------------- HTTP

  async function answer(req: http.IncomingMessage, rec: RecordedRequest): Promise<{ status: number; body?: unknown }> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const errorBody = (status: number, message: string) => ({ status, body: { code: String(status), message, request_id: randomUUID() } });
    const matched = url.pathname.startsWith(BASE_PATH) ? spec.match(req.method ?? 'GET', url.pathname.slice(BASE_PATH.length)) : undefined;
    if (!matched) {
      validationErrors.push(`${req.method} ${url.pathname}: no such operation in the OpenAPI document`);
      return { status: 404, body: { code: '404', message: `no route ${req.method} ${url.pathname}` } };
    }
    rec.operationId = matched.operationId;
    const route = matched.route;
    const query = Object.fromEntries(url.searchParams);
    const problems = spec.checkRequest(route, matched.pathParams, query, rec.requestBody);
    validationErrors.push(...problems);
    let result: { status: number; body?: unknown };
    if (req.headers.authorization !== `Bearer ${apiKey}`) result = errorBody(401, 'authentication failed: invalid API key');
    else if (problems.length) result = errorBody(400, `request does not match the OpenAPI document: ${problems.join('; ')}`);
    else {
      const fault = injected.findIndex((f) => f.operationId === matched.operationId);
      const handler = handlers[matched.operationId];
      try {
        if (fault >= 0) {
          const { status } = injected.splice(fault, 1)[0];
          throw new ApiError(status, `injected fault: ${status}`);
        }
        if (!handler) {
          validationErrors.push(`${matched.operationId}: not implemented by fake-neon`);
          throw new ApiError(501, `fake-neon does not implement ${matched.operationId}`);
        }
        result = await handler({ path: matched.pathParams, query, body: rec.requestBody });
      } catch (err) {
        result = err instanceof ApiError ? errorBody(err.status, err.message) : errorBody(500, `fake-neon failed: ${(err as Error).message}`);
      }
    }
    const wrong = spec.checkResponse(route, result.status, result.body);
    if (wrong.length === 0) return result;
    validationErrors.push(...wrong);
    return errorBody(500, `fake-neon response does not match the OpenAPI document: ${wrong.join('; ')}`);
  }

  const httpServer = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rec: RecordedRequest = { at: Date.now(), method: req.method ?? 'GET', path: req.url ?? '/', status: 0 };
    requests.push(rec);
    let result: { status: number; body?: unknown };
    try {
      const text = Buffer.concat(chunks).toString('utf8');
      rec.requestBody = text ? JSON.parse(text) : undefined;
      result = await answer(req, rec);
    } catch (err) {
      validationErrors.push(`${rec.method} ${rec.path}: ${(err as Error).message}`);
      result = { status: 400, body: { code: '400', message: (err as Error).message } };
    }
    rec.status = result.status;
    rec.responseBody = result.body;
    res.writeHead(result.status, result.body === undefined ? {} : { 'content-type': 'application/json' });
    res.end(result.body === undefined ? undefined : JSON.stringify(result.body));
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, '127.0.0.1', resolve);
  });

  return {
    baseURL: `http://127.0.0.1:${port}${BASE_PATH}`,
    apiKey,
    faults,
    requests,
    validationErrors,

    async createProject(opts = {}) {
      const id = `fake-${hex(5)}`;
      const p: ProjectRecord = {
        id,
        name: opts.name ?? id,
        databaseName: opts.databaseName ?? 'neondb',
        roleName: opts.roleName ?? `neondb_owner_${hex(4)}`,
        password: hex(12),
        branches: new Map(),
        operations: new Map(),
        queue: Promise.resolve(),
      };
      const main: BranchRecord = { ...newBranch(p, 'main'), isDefault: true, endpointId: `ep-${hex(4)}` };
      await admin.query(`CREATE ROLE ${ident(p.roleName)} LOGIN PASSWORD '${p.password}'`);
      await admin.query(`CREATE DATABASE ${ident(main.db)} OWNER ${ident(p.roleName)}`);
      p.branches.set(main.id, main);
      projects.set(id, p);
      const connectionUri = uri(p, main);
      if (opts.schema) {
        const client = new pg.Client(connectionUri);
        await client.connect();
        await client.query(opts.schema).finally(() => client.end());
      }
      return { projectId: id, branchId: main.id, databaseName: p.databaseName, roleName: p.roleName, connectionUri };
    },

    databasesOnServer,

    async stop() {
      httpServer.closeAllConnections();
      await new Promise((resolve) => httpServer.close(resolve));
      try {
        for (const p of projects.values()) {
          for (const db of await databasesOnServer(p.id)) await admin.query(`DROP DATABASE IF EXISTS ${ident(db)} WITH (FORCE)`);
          await admin.query(`DROP ROLE IF EXISTS ${ident(p.roleName)}`);
        }
      } finally {
        await admin.end();
      }
    },
  };
}
