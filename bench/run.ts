// `npm run bench`: every benchmark in turn, or one by name with its own options:
//   npm run bench -- promotions --promotions 10
// Each runs in a process of its own (as `npx tsx bench/<name>.ts`), so that one's memory does not weigh on the next.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHMARKS = ['schema', 'branches', 'promotions', 'cli', 'online'] as const;

const [name, ...options] = process.argv.slice(2);
if (name !== undefined && !(BENCHMARKS as readonly string[]).includes(name)) {
  console.error(`no benchmark named "${name}": choose one of ${BENCHMARKS.join(', ')}, or none to run them all (bench/README.md says what each measures)`);
  process.exit(2);
}
for (const benchmark of name ? [name] : BENCHMARKS) {
  console.error(`\n▸ bench/${benchmark}.ts ${options.join(' ')}`);
  const script = fileURLToPath(new URL(`${benchmark}.ts`, import.meta.url));
  const { status, signal } = spawnSync(process.execPath, ['--import', 'tsx', script, ...options], { stdio: 'inherit' });
  if (status !== 0) {
    console.error(`bench/${benchmark}.ts ${signal ? `was stopped by ${signal}` : `failed (exit ${status})`}`);
    process.exit(status ?? 1);
  }
}
