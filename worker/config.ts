// Configuration shared by the worker and the client, from the environment. docker-compose.yml sets
// the same names (test/compose.test.ts checks that they agree).
export const ENV = {
  address: 'TEMPORAL_ADDRESS',
  namespace: 'TEMPORAL_NAMESPACE',
  taskQueue: 'PGPROMOTE_TASK_QUEUE',
  secretKey: 'PGPROMOTE_SECRET_KEY',
  uiUrl: 'TEMPORAL_UI_URL',
  logLevel: 'PGPROMOTE_LOG_LEVEL',
  neonApiKey: 'NEON_API_KEY',
  neonApiUrl: 'NEON_API_URL',
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
  /** Shared by client (seals connection strings) and worker (opens them); may be empty for commands that need none. */
  secretKey: string;
  uiUrl: string;
  logLevel: string;
  /** For Neon branch targets (worker only); NEON_API_URL defaults to Neon's console API. */
  neonApiKey?: string;
  neonApiUrl?: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const read = (key: keyof typeof DEFAULTS) => env[ENV[key]] || DEFAULTS[key];
  return {
    address: read('address'),
    namespace: read('namespace'),
    taskQueue: read('taskQueue'),
    secretKey: env[ENV.secretKey] ?? '',
    uiUrl: read('uiUrl'),
    logLevel: read('logLevel'),
    neonApiKey: env[ENV.neonApiKey] || undefined,
    neonApiUrl: env[ENV.neonApiUrl] || undefined,
  };
}

/** What the worker's activities need from the configuration. */
export function activityDeps(config: Config) {
  return {
    secretKey: config.secretKey,
    neon: config.neonApiKey ? { apiKey: config.neonApiKey, baseURL: config.neonApiUrl } : undefined,
  };
}

/** Link to one workflow in the Temporal UI. */
export function workflowUrl(config: Pick<Config, 'uiUrl' | 'namespace'>, workflowId: string): string {
  return `${config.uiUrl}/namespaces/${encodeURIComponent(config.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
