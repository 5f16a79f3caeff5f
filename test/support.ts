// Helpers for tests: fresh databases on the run's shared Postgres server.
import { inject } from 'vitest';
import type pg from 'pg';
import { withClient } from '../activities/db.ts';
import { randomUUID } from 'node:crypto';

export const serverUrl = () => inject('postgresUrl');

export function databaseUrl(name: string): string {
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs SQL on the server's maintenance database (or `database`), one statement string at a time. */
export function sql(text: string, database?: string): Promise<pg.QueryResult> {
  return withClient(database ? databaseUrl(database) : serverUrl(), (client) => client.query(text));
}

/** A new empty database with a unique name, optionally loaded with `schema` (SQL). */
export async function createDatabase(prefix: string, schema?: string): Promise<{ name: string; url: string }> {
  const name = `${prefix}_${randomUUID().slice(0, 8)}`;
  await sql(`CREATE DATABASE "${name}"`);
  if (schema) await sql(schema, name);
  return { name, url: databaseUrl(name) };
}

export async function dropDatabase(name: string): Promise<void> {
  await sql(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

/** Fresh prod and dev databases for promotions, all dropped by `dropAll` (in `afterAll`). */
export function databasePairs() {
  const names: string[] = [];
  return {
    async pair(prodSql: string, devSql: string) {
      const [prod, dev] = [await createDatabase('prod', prodSql), await createDatabase('dev', devSql)];
      names.push(prod.name, dev.name);
      return { prod, dev };
    },
    async dropAll() {
      for (const name of names.splice(0)) await dropDatabase(name);
    },
  };
}

/** The columns of `table` in `database`, in order. */
export async function columnsOf(database: string, table: string): Promise<string[]> {
  const { rows } = await sql(`SELECT column_name FROM information_schema.columns WHERE table_name = '${table}' ORDER BY ordinal_position`, database);
  return rows.map((row) => row.column_name);
}
