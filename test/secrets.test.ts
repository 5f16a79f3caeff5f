import { describe, expect, it } from 'vitest';
import { seal, unseal, redactUrl } from '../activities/secrets.ts';

describe('sealed connection strings', () => {
  const url = 'postgres://app:hunter2@db.internal:5432/prod?sslmode=require';

  it('opens with the same key and hides the password', () => {
    const sealed = seal(url, 'k1');
    expect(sealed).toMatch(/^sealed:v1:/);
    expect(sealed).not.toContain('hunter2');
    expect(seal(url, 'k1')).not.toBe(sealed); // a fresh IV each time
    expect(unseal(sealed, 'k1')).toBe(url);
  });

  it('says what to do when the keys differ or none is set', () => {
    expect(() => unseal(seal(url, 'k1'), 'k2')).toThrow(/must share the same PGPROMOTE_SECRET_KEY/);
    expect(() => seal(url, '')).toThrow(/PGPROMOTE_SECRET_KEY is not set/);
    expect(() => unseal(url, 'k1')).toThrow(/expected a sealed value/);
  });

  it('redacts a URL for people', () => {
    expect(redactUrl(url)).toBe('postgres://app@db.internal:5432/prod');
  });
});
