// Connection strings carry passwords, and everything a workflow receives or returns is stored in
// its history and shown in the Temporal UI. So they cross the workflow boundary sealed: encrypted
// (AES-256-GCM) with a key that the client and the worker share (PGPROMOTE_SECRET_KEY), opened
// only inside activities.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const PREFIX = 'sealed:v1:';

export type Sealed = `sealed:v1:${string}`;

export class SecretKeyError extends Error {
  override name = 'SecretKeyError';
}

function keyBytes(key: string): Buffer {
  if (!key) {
    throw new SecretKeyError(
      'PGPROMOTE_SECRET_KEY is not set: give the client and the worker the same secret (any long random string, e.g. `openssl rand -hex 32`)',
    );
  }
  return createHash('sha256').update(key).digest();
}

export function seal(plain: string, key: string): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyBytes(key), iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return `${PREFIX}${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
}

export function unseal(sealed: string, key: string): string {
  if (!sealed.startsWith(PREFIX)) throw new SecretKeyError('expected a sealed value (sealed:v1:...), got something else');
  const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', keyBytes(key), raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  try {
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretKeyError('cannot open a sealed value: the worker and the client must share the same PGPROMOTE_SECRET_KEY');
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
