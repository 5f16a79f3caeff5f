import { describe, expect, it } from 'vitest';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { keyId, seal, unseal, redactUrl } from '../activities/secrets.ts';
import { loadConfig } from '../worker/config.ts';

describe('sealed connection strings', () => {
  const url = 'postgres://app:hunter2@db.internal:5432/prod?sslmode=require';

  it('opens with the same key, names the key by its id only, and hides the password', () => {
    const sealed = seal(url, ['k1']);
    expect(sealed.startsWith(`sealed:v2:${keyId('k1')}:`)).toBe(true);
    expect(keyId('k1')).toMatch(/^[0-9a-f]{8}$/);
    expect(keyId('k2')).not.toBe(keyId('k1'));
    expect(sealed).not.toContain('hunter2');
    expect(sealed).not.toContain('k1:');
    expect(seal(url, ['k1'])).not.toBe(sealed); // a fresh IV each time
    expect(unseal(sealed, ['k1'])).toBe(url);
  });

  it('survives a rotation: sealed with the old key, opened by a worker that has new,old', () => {
    const sealedBefore = seal(url, ['old']);
    const keysAfter = ['new', 'old'];
    expect(unseal(sealedBefore, keysAfter)).toBe(url);
    const sealedAfter = seal(url, keysAfter);
    expect(sealedAfter.startsWith(`sealed:v2:${keyId('new')}:`)).toBe(true);
    expect(unseal(sealedAfter, keysAfter)).toBe(url);
  });

  it('names the key id that is missing, and never a key', () => {
    const sealed = seal(url, ['old']);
    const attempt = () => unseal(sealed, ['new']);
    expect(attempt).toThrow(`this value was sealed with key ${keyId('old')}, which is not among the configured keys (${keyId('new')})`);
    expect(attempt).toThrow(/add that key to PGPROMOTE_SECRET_KEYS/);
  });

  it('still opens values sealed the v1 way (no key id), with whichever configured key fits', () => {
    // v1 as the previous release wrote it: AES-256-GCM under SHA-256 of the key, iv | tag | body.
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', createHash('sha256').update('old').digest(), iv);
    const body = Buffer.concat([cipher.update(url, 'utf8'), cipher.final()]);
    const v1 = `sealed:v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
    expect(unseal(v1, ['new', 'old'])).toBe(url);
    expect(() => unseal(v1, ['new'])).toThrow(/none of the configured keys opens it/);
  });

  it('says what to do when no key is set, or the value is not sealed', () => {
    expect(() => seal(url, [])).toThrow(/PGPROMOTE_SECRET_KEY is not set/);
    expect(() => unseal(seal(url, ['k1']), [])).toThrow(/PGPROMOTE_SECRET_KEY is not set/);
    expect(() => unseal(url, ['k1'])).toThrow(/expected a sealed value/);
  });

  it('redacts a URL for people', () => {
    expect(redactUrl(url)).toBe('postgres://app@db.internal:5432/prod');
  });
});

describe('secret keys in the environment', () => {
  it('takes new,old from PGPROMOTE_SECRET_KEYS, else the one PGPROMOTE_SECRET_KEY', () => {
    expect(loadConfig({ PGPROMOTE_SECRET_KEYS: 'new, old', PGPROMOTE_SECRET_KEY: 'single' }).secretKeys).toEqual(['new', 'old']);
    expect(loadConfig({ PGPROMOTE_SECRET_KEY: 'single' }).secretKeys).toEqual(['single']);
    expect(loadConfig({ PGPROMOTE_SECRET_KEYS: ' , ' }).secretKeys).toEqual([]);
    expect(loadConfig({}).secretKeys).toEqual([]);
  });
});
