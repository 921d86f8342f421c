/**
 * Fault injection over real processes and real HTTP, shared by the reservation and outbox tests and by
 * bench/soak.ts: subgraphs run as child processes (their own entry points, so `SIGKILL` is a real crash), a
 * proxy between orders and inventory holds, refuses or cuts chosen inventory calls, and a ledger reads both
 * services' SQLite files to check that no unit of stock was lost or sold twice.
 */
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import { callerHeaders, type Caller } from '../lib/identity';
import { projectRoot } from '../lib/paths';
import { startProcess, waitUntilReady, type ManagedProcess } from './processes';

/** Polls `condition` until it holds; fails after `timeoutMs`, saying what it waited for and what it last saw. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T> | T,
  condition: (value: T) => boolean,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let error: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      error = undefined;
      if (condition(last)) return last;
    } catch (failure) {
      error = failure;
    }
    await sleep(everyMs);
  }
  const seen = error !== undefined ? `error ${String(error)}` : JSON.stringify(last);
  throw new Error(`${what}: not within ${timeoutMs} ms (last seen: ${seen})`);
}

export interface GraphQLAnswer<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
  extensions?: Record<string, unknown>;
}

/** A GraphQL request straight to a subgraph, signed as `caller` (as the gateway or a service would sign it). */
export async function callSubgraph<T = Record<string, unknown>>(
  url: string,
  serviceSecret: string,
  caller: Caller,
  query: string,
  variables: Record<string, unknown> = {},
  timeoutMs = 30_000,
): Promise<GraphQLAnswer<T>> {
  const body = JSON.stringify({ query, variables });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...callerHeaders(serviceSecret, caller, body) },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: response.status, ...((await response.json()) as Omit<GraphQLAnswer<T>, 'status'>) };
}

export type SubgraphName = 'users' | 'orders' | 'inventory';

/** A subgraph running as a child process on a fixed port, so that it can be killed and started again there. */
export interface SubgraphProcess {
  name: SubgraphName;
  url: string;
  /** Undefined while stopped. */
  process(): ManagedProcess | undefined;
  /** Starts it (again) and waits until /readyz answers; resolves to the time it became ready. */
  start(extraEnv?: Record<string, string>): Promise<number>;
  /** `SIGKILL`: no shutdown, no last outbox pass; resolves once the process is gone. */
  kill(): Promise<void>;
  /** `SIGTERM`: a graceful stop. */
  stop(): Promise<void>;
}

/**
 * `node -r @swc-node/register subgraphs/<name>/index.ts` with `env` (the entry point reads its config from it,
 * as in production). `env` must set the service's port and DATA_DIR.
 */
export function subgraphProcess(name: SubgraphName, port: number, env: Record<string, string>): SubgraphProcess {
  let current: ManagedProcess | undefined;
  const base = `http://127.0.0.1:${port}`;
  async function exited(managed: ManagedProcess): Promise<void> {
    await waitFor(
      `${name} to exit`,
      () => managed.exit(),
      (exit) => exit !== undefined,
      10_000,
      20,
    );
  }
  return {
    name,
    url: `${base}/graphql`,
    process: () => current,
    async start(extraEnv = {}) {
      if (current && current.exit() === undefined) throw new Error(`${name} is already running`);
      const managed = startProcess({
        name,
        entry: path.join(projectRoot, 'subgraphs', name, 'index.ts'),
        nodeOptions: ['-r', '@swc-node/register'],
        env: { ...process.env, ...env, [`${name.toUpperCase()}_PORT`]: String(port), ...extraEnv },
      });
      current = managed;
      await waitUntilReady(
        managed,
        async () => (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(1000) })).ok,
        30_000,
      );
      return Date.now();
    },
    async kill() {
      const managed = current;
      current = undefined;
      if (!managed || managed.exit() !== undefined) return;
      process.kill(managed.pid, 'SIGKILL');
      await exited(managed);
    },
    async stop() {
      const managed = current;
      current = undefined;
      await managed?.stop();
    },
  };
}

/** The internal inventory mutations orders sends, as the proxy recognises them. */
export type InventoryCall = 'reserveStock' | 'confirmReservation' | 'releaseStock';
const INVENTORY_CALLS: readonly InventoryCall[] = ['reserveStock', 'confirmReservation', 'releaseStock'];

/** What the proxy does with one call; every hook may wait (hold the call) as long as it likes. */
export interface ProxyRule {
  /** Runs before the call is forwarded; holding here delays its arrival at inventory. */
  beforeForward?(): Promise<void> | void;
  /** Answer 503 without forwarding (inventory never sees the call). */
  refuse?: boolean;
  /** Runs after inventory answered (and committed), before orders gets the answer; holding delays the answer. */
  beforeAnswer?(answer: string): Promise<void> | void;
  /** Cut the connection instead of answering: orders never learns what inventory did. */
  dropAnswer?: boolean;
}

export interface DelayingProxy {
  url: string;
  /** The rule for a kind of call; `undefined` removes it. A rule returning one applies to one call only. */
  rule(call: InventoryCall, rule: ProxyRule | ((count: number) => ProxyRule | undefined) | undefined): void;
  /** How many calls of each kind arrived. */
  seen: Record<InventoryCall, number>;
  close(): Promise<void>;
}

/**
 * A node:http proxy on an ephemeral port in front of inventory's /graphql. Point orders' INVENTORY_URL at it.
 * A held call is still forwarded when its hook returns, even though orders gave up on it long ago: that is the
 * late reservation this proxy exists to produce. The body is forwarded byte for byte, so its signature holds.
 */
export async function startDelayingProxy(targetUrl: string): Promise<DelayingProxy> {
  const rules = new Map<InventoryCall, (count: number) => ProxyRule | undefined>();
  const seen: Record<InventoryCall, number> = { reserveStock: 0, confirmReservation: 0, releaseStock: 0 };
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        const call = INVENTORY_CALLS.find((name) => text.includes(name));
        const rule = call ? rules.get(call)?.(++seen[call]) : undefined;
        await rule?.beforeForward?.();
        if (rule?.refuse) {
          res
            .writeHead(503, { 'content-type': 'application/json' })
            .end('{"errors":[{"message":"refused by the proxy"}]}');
          return;
        }
        const headers: Record<string, string> = {};
        for (const name of ['content-type', 'x-caller', 'x-caller-signature']) {
          const value = req.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        let status: number;
        let answer: Buffer;
        try {
          const upstream = await fetch(targetUrl, {
            method: req.method,
            headers,
            body: req.method === 'POST' ? body : undefined,
          });
          status = upstream.status;
          answer = Buffer.from(await upstream.arrayBuffer());
        } catch {
          if (!res.destroyed)
            res
              .writeHead(502, { 'content-type': 'application/json' })
              .end('{"errors":[{"message":"inventory unreachable"}]}');
          return;
        }
        await rule?.beforeAnswer?.(answer.toString('utf8'));
        if (rule?.dropAnswer) {
          req.socket.destroy();
          return;
        }
        if (!res.destroyed) res.writeHead(status, { 'content-type': 'application/json' }).end(answer);
      })().catch(() => req.socket.destroy());
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    seen,
    rule(call, rule) {
      if (rule === undefined) rules.delete(call);
      else rules.set(call, typeof rule === 'function' ? rule : () => rule);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Where stock is, in units, over the products asked about. */
export interface StockLedger {
  /** On the shelf (`products.stock`). */
  stock: number;
  /** Taken by HELD reservations (not yet confirmed). */
  held: number;
  /** Taken by CONFIRMED reservations. */
  confirmed: number;
  /** In PLACED orders (orders' own books). */
  placed: number;
  /** Orders still PENDING, and FAILED or CANCELLED orders whose stock inventory has not confirmed returned. */
  pendingOrders: number;
  owedReleases: number;
}

/** True when nothing is in flight: no hold waiting, no pending order, no release owed, and both books agree. */
export const settled = (ledger: StockLedger) =>
  ledger.held === 0 && ledger.pendingOrders === 0 && ledger.owedReleases === 0 && ledger.confirmed === ledger.placed;

/**
 * Reads both services' SQLite files (read-only; WAL lets it read while they write). Conservation holds when
 * `initial stock = stock + placed + held` once settled.
 */
export function readLedger(files: { inventory: string; orders: string }, skus: readonly string[]): StockLedger {
  const open = (file: string) => new SQLite(file, { readonly: true, fileMustExist: true });
  const inventory = open(files.inventory);
  const orders = open(files.orders);
  try {
    const marks = skus.map(() => '?').join(', ');
    const sum = (database: SQLite.Database, query: string, ...args: unknown[]) =>
      Number((database.prepare(query).get(...args) as { n: number | null }).n ?? 0);
    const inStatus = (status: string) =>
      sum(
        inventory,
        `select sum(l.quantity) as n from reservation_lines l join reservations r on r.reservation_id = l.reservation_id
         where r.status = ? and l.sku in (${marks})`,
        status,
        ...skus,
      );
    return {
      stock: sum(inventory, `select sum(stock) as n from products where sku in (${marks})`, ...skus),
      held: inStatus('HELD'),
      confirmed: inStatus('CONFIRMED'),
      placed: sum(
        orders,
        `select sum(i.quantity) as n from order_items i join orders o on o.id = i.order_id where o.status = 'PLACED' and i.sku in (${marks})`,
        ...skus,
      ),
      pendingOrders: sum(orders, `select count(*) as n from orders where status = 'PENDING'`),
      owedReleases: sum(orders, `select count(*) as n from orders where release_pending = 1`),
    };
  } finally {
    inventory.close();
    orders.close();
  }
}
