// Which prod a promotion changes, as a stable, password-free string: promotions of the same prod
// queue behind each other (workflows/prod-lock.ts), whoever started them and however they wrote the URL.
import { createHash } from 'node:crypto';
import { databaseHost, parseDatabaseUrl } from './db.ts';
import type { BranchTarget } from './branches/provider.ts';

const DEFAULT_PORT = '5432';

/**
 * `postgres://host:port/database` (host lower-cased, port 5432 when absent; user, password and
 * parameters left out) for prod on a Postgres server, `neon:<project>/<branch>` for a Neon branch.
 * Percent-encoded so that it holds no quote: `list --prod` writes it into a visibility query as it is.
 */
export function prodIdentity(prodUrl: string, target: BranchTarget): string {
  const noQuote = (part: string) => part.replace(/'/g, '%27');
  const encode = (part: string) => noQuote(encodeURIComponent(part));
  if (target.provider === 'neon') return `neon:${encode(target.projectId)}/${encode(target.branchId)}`;
  const url = parseDatabaseUrl(prodUrl);
  const host = databaseHost(prodUrl);
  // libpq also takes the port as a parameter, as it takes the host.
  const port = url.searchParams.get('port') || url.port || DEFAULT_PORT;
  return `postgres://${noQuote(host)}:${noQuote(port)}/${encode(decodeURIComponent(url.pathname.slice(1)))}`;
}

/** The lock workflow's id: a hash, as identities hold characters a workflow id should not (and may be long). */
export function prodLockId(identity: string): string {
  return `pgpromote-lock-${createHash('sha256').update(identity).digest('hex').slice(0, 32)}`;
}
