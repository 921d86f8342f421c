import net, { type AddressInfo } from 'node:net';
import { Pool } from 'pg';
import { classifyPostgresError } from '../helpers/postgres-diagnosis';
import { requirePostgres, TEST_DATABASE_URL } from '../helpers/system';

/** The error a real connection attempt gives, or undefined when it succeeds. */
async function connectionError(databaseUrl: string): Promise<unknown> {
  const pool = new Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 3000 });
  try {
    await pool.query('select 1');
    return undefined;
  } catch (error) {
    return error;
  } finally {
    await pool.end();
  }
}

/** A port nothing listens on: the OS gave it to us, and we let it go. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function withUrl(change: (url: URL) => void): string {
  const url = new URL(TEST_DATABASE_URL);
  change(url);
  return url.toString();
}

describe('requirePostgres tells a server that is down from a database or login that is missing', () => {
  beforeAll(() => requirePostgres());

  it('a closed port is a server to start, with the pg_ctlcluster command', async () => {
    const port = await closedPort();
    const url = withUrl((u) => {
      u.hostname = '127.0.0.1';
      u.port = String(port);
    });
    expect(classifyPostgresError(await connectionError(url))).toBe('server-down');
    await expect(requirePostgres(url)).rejects.toThrow(
      /ECONNREFUSED.*start PostgreSQL with: pg_ctlcluster --skip-systemctl-redirect \$\(ls \/etc\/postgresql\) main start/,
    );
  });

  it('localhost refused on both ::1 and 127.0.0.1 is a server to start too', async () => {
    const port = await closedPort();
    const url = withUrl((u) => {
      u.hostname = 'localhost';
      u.port = String(port);
    });
    expect(classifyPostgresError(await connectionError(url))).toBe('server-down');
  });

  it('a database that does not exist on a running server is a createdb, not a server start', async () => {
    const name = `no_such_db_${process.pid}`;
    const url = withUrl((u) => {
      u.pathname = `/${name}`;
    });
    expect(classifyPostgresError(await connectionError(url))).toBe('database-missing');
    const failure = requirePostgres(url);
    await expect(failure).rejects.toThrow(new RegExp(`has no database '${name}': create it with: createdb -h .* ${name}$`));
    await expect(failure).rejects.not.toThrow(/pg_ctlcluster/);
  });

  it('a login the server refuses says to check the user, password and pg_hba.conf', async () => {
    const url = withUrl((u) => {
      u.username = `no_such_role_${process.pid}`;
      u.password = 'wrong';
    });
    expect(classifyPostgresError(await connectionError(url))).toBe('auth-failed');
    await expect(requirePostgres(url)).rejects.toThrow(/refused user 'no_such_role_\d+'.*pg_hba\.conf/);
  });
});
