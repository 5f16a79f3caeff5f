// Connection strings carry passwords, and everything a workflow receives or returns is stored in
// its history and shown in the Temporal UI. So they cross the workflow boundary sealed: encrypted
// (AES-256-GCM) with a key that the client and the worker share, opened only inside activities.
// A sealed value names the key that sealed it (`sealed:v2:<key id>:...`), so keys can rotate while
// promotions run: the first key seals, every configured key opens (PGPROMOTE_SECRET_KEYS=new,old).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const V1 = 'sealed:v1:';
const V2 = 'sealed:v2:';

export type Sealed = `sealed:${string}`;

/** The configured keys: the first seals, all open. */
export type SecretKeys = readonly string[];

export class SecretKeyError extends Error {
  override name = 'SecretKeyError';
}

export const NO_SECRET_KEY =
  'PGPROMOTE_SECRET_KEY is not set (nor PGPROMOTE_SECRET_KEYS=new,old while rotating): give the client and the worker the same secret (any long random string, e.g. `openssl rand -hex 32`)';

const keyBytes = (key: string) => createHash('sha256').update(key).digest();

/** Names a key without revealing it: 8 hex characters of a hash under a label of its own (not the cipher key). */
export function keyId(key: string): string {
  return createHash('sha256').update(`pgpromote secret key id\0${key}`).digest('hex').slice(0, 8);
}

export function seal(plain: string, keys: SecretKeys): Sealed {
  const key = keys[0];
  if (!key) throw new SecretKeyError(NO_SECRET_KEY);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyBytes(key), iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return `${V2}${keyId(key)}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
}

export function unseal(sealed: string, keys: SecretKeys): string {
  if (!keys.length) throw new SecretKeyError(NO_SECRET_KEY);
  if (sealed.startsWith(V2)) {
    const [id, raw = ''] = sealed.slice(V2.length).split(':');
    const key = keys.find((candidate) => keyId(candidate) === id);
    if (!key) {
      throw new SecretKeyError(
        `this value was sealed with key ${id}, which is not among the configured keys (${keys.map(keyId).join(', ')}): add that key to PGPROMOTE_SECRET_KEYS (new,old) on the worker`,
      );
    }
    const opened = open(raw, key);
    if (opened === undefined) throw new SecretKeyError(`cannot open a value sealed with key ${id}: it is damaged`);
    return opened;
  }
  // v1 values name no key: try each.
  if (sealed.startsWith(V1)) {
    for (const key of keys) {
      const opened = open(sealed.slice(V1.length), key);
      if (opened !== undefined) return opened;
    }
    throw new SecretKeyError('cannot open a sealed value: none of the configured keys opens it; the worker needs the key the client sealed it with (PGPROMOTE_SECRET_KEYS=new,old)');
  }
  throw new SecretKeyError('expected a sealed value (sealed:v2:...), got something else');
}

/** The plain text, or undefined when `key` is not the one that sealed it. */
function open(base64: string, key: string): string | undefined {
  const raw = Buffer.from(base64, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', keyBytes(key), raw.subarray(0, 12));
  try {
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** `postgres://user@host:port/db`: a connection string without its password, fit for logs and the UI. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    parsed.search = '';
    return parsed.toString();
  } catch {
    return '(invalid connection string)';
  }
}
