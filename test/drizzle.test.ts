// pgpromote reaches into drizzle-kit's bundle: this fails loudly when an upgrade moves what we use.
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { drizzle } from '../activities/schema/diff/drizzle.ts';

describe('drizzle-kit internals', () => {
  it('is the pinned version', () => {
    const api = createRequire(import.meta.url).resolve('drizzle-kit/api');
    const { version } = JSON.parse(readFileSync(path.join(path.dirname(api), 'package.json'), 'utf8'));
    expect(version).toBe('0.31.11');
  });

  it('exposes the differ, the squasher, the snapshot schema and the SQL generator', async () => {
    const kit = drizzle();
    expect(drizzle()).toBe(kit); // loaded once per process
    const empty = kit.pgSchema.parse({
      version: '7', dialect: 'postgresql', id: '', prevId: '', tables: {}, enums: {}, schemas: {}, sequences: {},
      roles: {}, policies: {}, views: {}, _meta: { schemas: {}, tables: {}, columns: {} },
    });
    const withTable = {
      ...empty,
      tables: {
        'public.t': {
          name: 't', schema: '', columns: { id: { name: 'id', type: 'integer', primaryKey: true, notNull: true } },
          indexes: {}, foreignKeys: {}, compositePrimaryKeys: {}, uniqueConstraints: {}, checkConstraints: {}, policies: {}, isRLSEnabled: false,
        },
      },
    };
    const none = async (input: object) => ({ ...input, renamed: [], moved: [] });
    const { statements } = await kit.applyPgSnapshotsDiff(
      kit.squashPgScheme(empty, 'push'), kit.squashPgScheme(kit.pgSchema.parse(withTable), 'push'),
      none as never, none as never, none as never, none as never, none as never, none as never, none as never, none as never, none as never,
      empty, kit.pgSchema.parse(withTable), 'push',
    );
    expect(statements.map((s) => s.type)).toEqual(['create_table']);
    expect(kit.fromJson(statements, 'postgresql', 'push')).toEqual(['CREATE TABLE "t" (\n\t"id" integer PRIMARY KEY NOT NULL\n);\n']);
  });
});
