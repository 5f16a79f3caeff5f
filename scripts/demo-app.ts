// The demo's app: a small task tracker. prod runs the current release with data; dev has the next
// release's schema (a renamed column, a new table, a new column with a default, a new index).
import { fileURLToPath } from 'node:url';
import type { PreviewTarget } from '../activities/preview/provider.ts';
export const RELEASE_1 = `
  CREATE TYPE task_status AS ENUM ('todo', 'doing', 'done');
  CREATE TABLE users (
    id serial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE projects (
    id serial PRIMARY KEY,
    owner_id integer NOT NULL REFERENCES users(id),
    title text NOT NULL
  );
  CREATE TABLE tasks (
    id bigserial PRIMARY KEY,
    project_id integer NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    assignee_id integer REFERENCES users(id),
    title text NOT NULL,
    status task_status NOT NULL DEFAULT 'todo'
  );
  CREATE INDEX tasks_project_id_idx ON tasks (project_id);
`;

export const PROD_DATA = `
  INSERT INTO users (email, name) SELECT 'user' || i || '@example.com', 'User ' || i FROM generate_series(1, 200) i;
  INSERT INTO projects (owner_id, title) SELECT 1 + i % 200, 'Project ' || i FROM generate_series(1, 400) i;
  INSERT INTO tasks (project_id, assignee_id, title, status)
    SELECT 1 + i % 400, 1 + i % 200, 'Task ' || i, (ARRAY['todo', 'doing', 'done']::task_status[])[1 + i % 3]
    FROM generate_series(1, 5000) i;
`;

export const RELEASE_2_CHANGES = `
  ALTER TABLE users RENAME COLUMN name TO display_name;
  ALTER TABLE tasks ADD COLUMN due_date date;
  ALTER TABLE tasks ADD COLUMN priority smallint NOT NULL DEFAULT 3;
  CREATE INDEX tasks_due_date_idx ON tasks (due_date);
  CREATE TABLE comments (
    id bigserial PRIMARY KEY,
    task_id bigint NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    author_id integer NOT NULL REFERENCES users(id),
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  );
`;

/** What the demo tells pgpromote about the rename, as a deploy system would. */
export const RENAMES = ['users.name=users.display_name'];

/** The app at release 2 (scripts/demo-web.ts), started on the trial branch as the promotion's preview. */
export const DEMO_PREVIEW: PreviewTarget = {
  provider: 'command',
  command: `'${process.execPath}' --import tsx scripts/demo-web.ts`,
  cwd: fileURLToPath(new URL('..', import.meta.url)),
  health: '/healthz',
};
