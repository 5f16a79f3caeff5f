// No Docker engine runs here, so docker-compose.yml is checked as data: it parses, and the worker
// service is configured through exactly the settings the worker reads, pointed at the services
// the file itself defines.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ENV, DEFAULTS, loadConfig } from '../worker/config.ts';
import { searchAttributeCommands } from '../workflows/visibility.ts';

const compose = parse(readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8'));
const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const worker = compose.services.worker;

describe('docker-compose.yml', () => {
  it('defines Temporal, its UI, Postgres and the worker', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['postgresql', 'search-attributes', 'temporal', 'temporal-ui', 'worker']);
  });

  it('registers the search attributes the workflow sets, on the worker\'s namespace and server, before the worker starts', () => {
    const setup = compose.services['search-attributes'];
    const script: string = setup.command.join('\n');
    for (const command of searchAttributeCommands(worker.environment[ENV.namespace])) expect(script).toContain(command);
    expect(setup.environment.TEMPORAL_ADDRESS).toBe(worker.environment[ENV.address]);
    expect(worker.depends_on['search-attributes']).toEqual({ condition: 'service_completed_successfully' });
  });

  it('sets only settings the worker reads, and every one it needs', () => {
    const known = new Set<string>(Object.values(ENV));
    expect(Object.keys(worker.environment).filter((name) => !known.has(name))).toEqual([]);
    for (const name of [ENV.address, ENV.namespace, ENV.taskQueue, ENV.secretKey]) expect(worker.environment).toHaveProperty(name);
  });

  it('points the worker and the UI at the Temporal service and port it defines', () => {
    const [host, port] = worker.environment[ENV.address].split(':');
    expect(compose.services[host]).toBeDefined();
    expect(compose.services[host].ports).toContain(`${port}:${port}`);
    expect(compose.services['temporal-ui'].environment.TEMPORAL_ADDRESS).toBe(worker.environment[ENV.address]);
    expect(DEFAULTS.address.endsWith(`:${port}`)).toBe(true);
    expect(compose.services['temporal-ui'].ports[0]).toBe(`${new URL(DEFAULTS.uiUrl).port}:8080`);
  });

  it('uses the default task queue and namespace, so the CLI finds the worker with no settings', () => {
    const config = loadConfig(worker.environment);
    expect(config.taskQueue).toBe(DEFAULTS.taskQueue);
    expect(config.namespace).toBe(DEFAULTS.namespace);
  });

  it('runs the worker with the package script that exists', () => {
    expect(worker.command).toEqual(['npm', 'run', 'worker']);
    expect(packageJson.scripts.worker).toBe('tsx worker/main.ts');
  });

  it('runs two workers on the one task queue, as replicas that claim no fixed name or host port', () => {
    expect(worker.deploy.replicas).toBe(2);
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports).toBeUndefined();
  });

  it('refuses to start the worker without a secret key', () => {
    expect(worker.environment[ENV.secretKey]).toMatch(/^\$\{PGPROMOTE_SECRET_KEY:\?.+\}$/);
  });
});
