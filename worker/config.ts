// Configuration shared by the worker and the client, from the environment. docker-compose.yml sets
// the same names (test/compose.test.ts checks that they agree).
export const ENV = {
  address: 'TEMPORAL_ADDRESS',
  namespace: 'TEMPORAL_NAMESPACE',
  taskQueue: 'PGPROMOTE_TASK_QUEUE',
  secretKey: 'PGPROMOTE_SECRET_KEY',
  secretKeys: 'PGPROMOTE_SECRET_KEYS',
  uiUrl: 'TEMPORAL_UI_URL',
  logLevel: 'PGPROMOTE_LOG_LEVEL',
  maxConcurrentActivities: 'PGPROMOTE_MAX_CONCURRENT_ACTIVITIES',
  maxConcurrentWorkflowTasks: 'PGPROMOTE_MAX_CONCURRENT_WORKFLOW_TASKS',
  maxCachedWorkflows: 'PGPROMOTE_MAX_CACHED_WORKFLOWS',
  neonApiKey: 'NEON_API_KEY',
  neonApiUrl: 'NEON_API_URL',
  previewSecret: 'PGPROMOTE_PREVIEW_SECRET',
} as const;

export const DEFAULTS = {
  address: '127.0.0.1:7233',
  namespace: 'default',
  taskQueue: 'pgpromote',
  uiUrl: 'http://127.0.0.1:8233',
  logLevel: 'info',
} as const;

export interface Config {
  address: string;
  namespace: string;
  taskQueue: string;
  /**
   * Shared by client (seals connection strings with the first) and worker (opens them with any):
   * PGPROMOTE_SECRET_KEYS (`new,old` while rotating), else PGPROMOTE_SECRET_KEY; empty for commands that need none.
   */
  secretKeys: string[];
  uiUrl: string;
  logLevel: string;
  /** For Neon branch targets (worker only); NEON_API_URL defaults to Neon's console API. */
  neonApiKey?: string;
  neonApiUrl?: string;
  /** Signs requests to a webhook preview's deploy system (worker only). */
  previewSecret?: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const read = (key: keyof typeof DEFAULTS) => env[ENV[key]] || DEFAULTS[key];
  return {
    address: read('address'),
    namespace: read('namespace'),
    taskQueue: read('taskQueue'),
    secretKeys: secretKeys(env),
    uiUrl: read('uiUrl'),
    logLevel: read('logLevel'),
    neonApiKey: env[ENV.neonApiKey] || undefined,
    neonApiUrl: env[ENV.neonApiUrl] || undefined,
    previewSecret: env[ENV.previewSecret] || undefined,
  };
}

/** PGPROMOTE_SECRET_KEYS wins over PGPROMOTE_SECRET_KEY when both are set. */
function secretKeys(env: NodeJS.ProcessEnv): string[] {
  const listed = (env[ENV.secretKeys] ?? '').split(',').map((key) => key.trim()).filter(Boolean);
  if (listed.length) return listed;
  return env[ENV.secretKey] ? [env[ENV.secretKey]!] : [];
}

/** How much one worker takes on at once (the Temporal SDK's names); see bench/promotions.md for how they were chosen. */
export interface WorkerTuning {
  maxConcurrentActivityTaskExecutions: number;
  maxConcurrentWorkflowTaskExecutions: number;
  maxCachedWorkflows: number;
}

// From 100 promotions at once on one 2-core worker (bench/promotions.md): 20 activities got as far as the SDK's
// 100 in the same time, with a fifth of the Postgres sessions; 100 workflow task slots (the SDK has 40) let new
// promotions' first workflow tasks in sooner (1.3-1.5 s p50 of waiting, against 3-5 s with 40 and 13 s with 10);
// 200 cached promotions bound the memory (about 1 MB each) and still hold every promotion of that run.
export const DEFAULT_TUNING: WorkerTuning = {
  maxConcurrentActivityTaskExecutions: 20,
  maxConcurrentWorkflowTaskExecutions: 100,
  maxCachedWorkflows: 200,
};

const TUNING_ENV = {
  maxConcurrentActivityTaskExecutions: ENV.maxConcurrentActivities,
  maxConcurrentWorkflowTaskExecutions: ENV.maxConcurrentWorkflowTasks,
  maxCachedWorkflows: ENV.maxCachedWorkflows,
} as const;

/** The worker's concurrency from PGPROMOTE_MAX_*; a value that is not a whole number in range is refused with what to set. */
export function loadWorkerTuning(env: NodeJS.ProcessEnv = process.env): WorkerTuning {
  const tuning = { ...DEFAULT_TUNING };
  for (const [key, name] of Object.entries(TUNING_ENV) as [keyof WorkerTuning, string][]) {
    const text = env[name]?.trim();
    if (!text) continue;
    if (!/^[0-9]+$/.test(text) || Number(text) < 1) throw new Error(`${name} must be a whole number of at least 1, not "${text}": unset it to use ${DEFAULT_TUNING[key]}`);
    tuning[key] = Number(text);
  }
  // The SDK would quietly lower these itself; a setting that is not used as written is refused instead.
  if (tuning.maxConcurrentWorkflowTaskExecutions < 2) {
    throw new Error(`${ENV.maxConcurrentWorkflowTasks} must be at least 2: the Temporal SDK needs 2 when it caches workflows`);
  }
  if (tuning.maxCachedWorkflows < tuning.maxConcurrentWorkflowTaskExecutions) {
    throw new Error(`${ENV.maxCachedWorkflows} (${tuning.maxCachedWorkflows}) must be at least ${ENV.maxConcurrentWorkflowTasks} (${tuning.maxConcurrentWorkflowTaskExecutions}): a workflow task runs on a cached workflow`);
  }
  return tuning;
}

/** What the worker's activities need from the configuration. */
export function activityDeps(config: Config) {
  return {
    secretKeys: config.secretKeys,
    neon: config.neonApiKey ? { apiKey: config.neonApiKey, baseURL: config.neonApiUrl } : undefined,
    previewSecret: config.previewSecret,
  };
}

/** Link to one workflow in the Temporal UI. */
export function workflowUrl(config: Pick<Config, 'uiUrl' | 'namespace'>, workflowId: string): string {
  return `${config.uiUrl}/namespaces/${encodeURIComponent(config.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
