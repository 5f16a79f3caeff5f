// The demo's task tracker as a web app, at release 2: the preview a promotion starts on its trial branch.
// `DATABASE_URL=... PORT=... node --import tsx scripts/demo-web.ts`. It reads release 2's columns
// (users.display_name, tasks.priority), so it works on a branch with the plan applied, not on prod before.
import http from 'node:http';
import pg from 'pg';

const { DATABASE_URL, PORT } = process.env;
if (!DATABASE_URL || !PORT) {
  console.error('demo-web: set DATABASE_URL (the database to show) and PORT (where to listen)');
  process.exit(2);
}

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
const escape = (text: unknown) =>
  String(text ?? '').replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);

async function page(): Promise<string> {
  const [users, tasks] = await Promise.all([
    pool.query('SELECT id, display_name, email FROM users ORDER BY id LIMIT 20'),
    pool.query(`SELECT t.id, t.title, t.status, t.priority, u.display_name AS assignee
                FROM tasks t LEFT JOIN users u ON u.id = t.assignee_id ORDER BY t.id LIMIT 50`),
  ]);
  const rows = (items: Record<string, unknown>[], columns: string[]) =>
    items.map((item) => `<tr>${columns.map((column) => `<td>${escape(item[column])}</td>`).join('')}</tr>`).join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Task tracker (release 2)</title></head><body>
<h1>Task tracker — release 2</h1>
<h2>Users</h2><table><tr><th>id</th><th>display name</th><th>email</th></tr>
${rows(users.rows, ['id', 'display_name', 'email'])}</table>
<h2>Tasks</h2><table><tr><th>id</th><th>title</th><th>status</th><th>priority</th><th>assignee</th></tr>
${rows(tasks.rows, ['id', 'title', 'status', 'priority', 'assignee'])}</table>
</body></html>`;
}

const server = http.createServer(async (request, response) => {
  try {
    if (request.url === '/healthz') {
      await pool.query('SELECT display_name FROM users LIMIT 0'); // ready only where release 2's schema is
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(await page());
    } else {
      response.writeHead(404).end();
    }
  } catch (error) {
    console.error(`demo-web: ${(error as Error).message}`);
    response.writeHead(500, { 'content-type': 'text/plain' }).end((error as Error).message);
  }
});

server.listen(Number(PORT), '127.0.0.1', () => console.log(`demo-web: listening on http://127.0.0.1:${PORT}`));
const stop = () => server.close(() => pool.end().then(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
