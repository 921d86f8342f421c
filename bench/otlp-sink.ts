import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in OpenTelemetry collector for the `ours-tracing` target: accepts every OTLP/HTTP export, answers it
 * at once and keeps only counts, so what is measured is what tracing costs the gateway (building, batching,
 * serialising and sending spans), not a collector's work.
 */
export interface OtlpSink {
  /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (exports go to `/v1/traces` under it). */
  url: string;
  /** Exports received and their bytes, so far. */
  received(): { exports: number; bytes: number };
  close(): Promise<void>;
}

export async function startOtlpSink(): Promise<OtlpSink> {
  let exports = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      exports++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => ({ exports, bytes }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
