import net from 'node:net';

/**
 * A TCP proxy in front of a real server that fails on request: `pass` forwards, `reset` accepts and
 * immediately resets every connection (a process that is gone), `hang` accepts and never answers (a process
 * that is stuck). Switching away from `pass` also cuts the connections already open, as a dying process
 * would. It counts the connections it was asked for, so tests can tell "failed at once" from "tried".
 */
export type FaultMode = 'pass' | 'reset' | 'hang';

export interface FaultProxy {
  url: string;
  mode: FaultMode;
  /** Connections accepted since the last `resetCounts`. */
  connections: number;
  set(mode: FaultMode): void;
  /** Resets the next `count` connections, then passes again. */
  resetNext(count: number): void;
  resetCounts(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const { hostname, port, pathname } = new URL(target);
  const open = new Set<net.Socket>();
  let toReset = 0;
  const proxy: FaultProxy = {
    url: '',
    mode: 'pass',
    connections: 0,
    set(mode) {
      proxy.mode = mode;
      if (mode !== 'pass') for (const socket of open) socket.destroy();
    },
    resetNext(count) {
      toReset = count;
    },
    resetCounts() {
      proxy.connections = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((client) => {
    proxy.connections++;
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => undefined);
    if (toReset > 0 || proxy.mode === 'reset') {
      if (toReset > 0) toReset--;
      client.resetAndDestroy();
      return;
    }
    if (proxy.mode === 'hang') return;
    const upstream = net.connect(Number(port), hostname);
    open.add(upstream);
    upstream.on('close', () => {
      open.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}${pathname}`;
  return proxy;
}
