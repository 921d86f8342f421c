/**
 * Why the tests could not use their PostgreSQL, and what to do about it. "Start the server" is the wrong advice
 * when the server is up and only the `test` database is missing, so the failure is classified first: nothing
 * listening, a database that does not exist, a refused login, or anything else.
 */
export type PostgresProblem = 'server-down' | 'database-missing' | 'auth-failed' | 'other';

const SERVER_DOWN_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ECONNRESET']);

export function classifyPostgresError(error: unknown): PostgresProblem {
  const code = (error as { code?: unknown } | undefined)?.code;
  // `localhost` resolves to ::1 and 127.0.0.1: node reports both refusals together.
  const inner = (error as { errors?: unknown } | undefined)?.errors;
  if (Array.isArray(inner) && inner.length > 0 && inner.every((each) => classifyPostgresError(each) === 'server-down'))
    return 'server-down';
  if (typeof code === 'string' && SERVER_DOWN_CODES.has(code)) return 'server-down';
  if (code === '3D000') return 'database-missing';
  // 28P01 wrong password, 28000 no such role or no pg_hba.conf entry.
  if (code === '28P01' || code === '28000') return 'auth-failed';
  if (error instanceof Error && /timeout expired|Connection terminated due to connection timeout/i.test(error.message))
    return 'server-down';
  return 'other';
}

/** What to run for each problem, for the database URL the tests use. */
export function postgresAdvice(problem: PostgresProblem, databaseUrl: string): string {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.slice(1)) || 'postgres';
  const user = decodeURIComponent(url.username) || 'postgres';
  const port = url.port && url.port !== '5432' ? ` -p ${url.port}` : '';
  switch (problem) {
    case 'server-down':
      return (
        'Nothing answers there: start PostgreSQL with: ' +
        'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start ' +
        '(or set TEST_DATABASE_URL to a reachable server).'
      );
    case 'database-missing':
      return `The server is up but has no database '${database}': create it with: createdb -h ${url.hostname}${port} -U ${user} ${database}`;
    case 'auth-failed':
      return (
        `The server refused user '${user}': check the user and password in TEST_DATABASE_URL, ` +
        "and that pg_hba.conf lets it in from this host (the tests expect 'trust' or a password in the URL)."
      );
    case 'other':
      return 'Check that TEST_DATABASE_URL points at a PostgreSQL server the tests may use.';
  }
}
