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
