/**
 * Load from autocannon: a fixed number of connections, each sending the workload's requests in turn.
 *
 * A timed run is a window inside one continuous load, not a load of its own. When autocannon stops it drops
 * the requests still in flight, and a gateway keeps working on them; a run that started from zero and ended
 * with a drop would charge the subgraph calls and CPU of up to 50 unfinished requests to the finished ones
 * (a third of the total for a target doing 20 requests per second). So the load runs for a lead-in first, the
 * window opens on a full pipeline (`onOpen` reads the counters), closes while the load still runs (`onClose`
 * reads them again), and only then does the load stop. Latencies, statuses and errors are those of responses
 * received inside the window.
 *
 * Every load is bounded twice: by its duration and by a cap on responses.
 */
import autocannon from 'autocannon';
import { bodyHasGraphQLErrors, graphQLErrorCodesOf } from './compare';
import { percentile } from './stats';
import type { LoadFigures } from './summary';
import type { BenchRequest } from './workloads';

export interface LoadOptions {
  url: string;
  /** The headers of a request with this body. */
  headers(body: string): Record<string, string>;
  /**
   * Made again for every request sent, not once per load: headers that carry a dated signature (a subgraph's
   * caller) would expire during a long load. Costs the load generator a request rebuild each time.
   */
  signsEachRequest?: boolean;
  requests: readonly BenchRequest[];
  /**
   * When set, every request sent is the next this makes (its own body and caller), instead of the connections
   * cycling through `requests`.
   */
  traffic?: () => BenchRequest;
  /** GraphQL error codes counted as expected answers rather than errors (e.g. OUT_OF_STOCK). */
  expectedErrorCodes?: readonly string[];
  connections: number;
  /** A request slower than this counts as a timeout (a transport error). */
  timeoutSeconds?: number;
  /** Stop early after this many responses, whatever the duration; far above what any target here reaches. */
  maxResponses?: number;
}

export interface WindowOptions {
  /**
   * Load before the window opens: at least `leadSeconds` and `minLeadResponses` responses (at most
   * `maxLeadSeconds`). All connections start at once; after a couple of responses each they are out of step,
   * and the requests in flight when the window opens are as far along as those in flight when it closes.
   */
  leadSeconds: number;
  minLeadResponses: number;
  maxLeadSeconds: number;
  /** The window: at least `windowSeconds` and `minWindowResponses` responses (at most `maxWindowSeconds`). */
  windowSeconds: number;
  minWindowResponses: number;
  maxWindowSeconds: number;
  onOpen(): Promise<void>;
  onClose(): Promise<void>;
}

const DEFAULT_MAX_RESPONSES = 5_000_000;

function start(options: LoadOptions, durationSeconds: number, onBody: (status: number, body: string) => void) {
  let finish!: (result: autocannon.Result) => void;
  let fail!: (error: Error) => void;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const path = new URL(options.url).pathname;
  const headersOf = (request: BenchRequest) => ({ ...options.headers(request.body), ...request.headers });
  const { traffic } = options;
  const requests: autocannon.Request[] = traffic
    ? [
        {
          method: 'POST',
          path,
          onResponse: onBody,
          setupRequest: (built: autocannon.Request) => {
            const request = traffic();
            return { ...built, headers: headersOf(request), body: request.body };
          },
        },
      ]
    : options.requests.map((request) => ({
        method: 'POST',
        path,
        headers: headersOf(request),
        body: request.body,
        onResponse: onBody,
        ...(options.signsEachRequest
          ? { setupRequest: (built: autocannon.Request) => ({ ...built, headers: headersOf(request) }) }
          : {}),
      }));
  const instance = autocannon(
    {
      url: options.url,
      connections: options.connections,
      duration: durationSeconds,
      timeout: options.timeoutSeconds ?? 10,
      requests,
    },
    (error, result) => (error ? fail(error) : finish(result)),
  );
  let responses = 0;
  const cap = options.maxResponses ?? DEFAULT_MAX_RESPONSES;
  instance.on('response', () => {
    if (++responses === cap) instance.stop();
  });
  return { instance, done };
}

/** Load whose figures nobody reads: fills caches, JIT-compiles the hot paths, grows the connection pools. */
export async function warmUp(options: LoadOptions, seconds: number): Promise<void> {
  await start(options, seconds, () => undefined).done;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits at least `minSeconds` and until `enough()`, but never longer than `maxSeconds`. */
async function waitUntil(enough: () => boolean, minSeconds: number, maxSeconds: number): Promise<void> {
  const started = performance.now();
  await sleep(minSeconds * 1000);
  while (!enough() && performance.now() - started < maxSeconds * 1000) await sleep(50);
}

export async function measureWindow(options: LoadOptions, window: WindowOptions): Promise<LoadFigures> {
  let open = false;
  let allResponses = 0;
  let graphqlErrors = 0;
  let expectedErrors = 0;
  let non2xx = 0;
  let transportErrors = 0;
  let responses = 0;
  const latencies: number[] = [];
  // The load outlasts the window by a margin, so it is still running when the window closes.
  const margin = 5;
  const longest = Math.max(window.leadSeconds, window.maxLeadSeconds) + Math.max(window.windowSeconds, window.maxWindowSeconds);
  const expected = new Set(options.expectedErrorCodes ?? []);
  const { instance, done } = start(options, longest + margin, (status, body) => {
    // Non-2xx are counted from the response event; a 2xx carrying GraphQL errors is counted here.
    if (!open || status < 200 || status >= 300 || !bodyHasGraphQLErrors(body)) return;
    if (expected.size > 0 && onlyExpectedErrors(body, expected)) expectedErrors++;
    else graphqlErrors++;
  });
  instance.on('response', (_client: unknown, status: number, _bytes: number, responseTimeMs: number) => {
    allResponses++;
    if (!open) return;
    responses++;
    if (status >= 200 && status < 300) latencies.push(responseTimeMs);
    else non2xx++;
  });
  instance.on('reqError', () => {
    if (open) transportErrors++;
  });
  let openedAt = 0;
  let closedAt = 0;
  try {
    await waitUntil(() => allResponses >= window.minLeadResponses, window.leadSeconds, window.maxLeadSeconds);
    await window.onOpen();
    open = true;
    openedAt = performance.now();
    await waitUntil(() => responses >= window.minWindowResponses, window.windowSeconds, window.maxWindowSeconds);
    open = false;
    closedAt = performance.now();
    await window.onClose();
  } finally {
    open = false;
    instance.stop();
  }
  await done;
  const durationSeconds = (closedAt - openedAt) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  return {
    requests: responses,
    durationSeconds,
    rps: durationSeconds > 0 ? responses / durationSeconds : 0,
    latencyP50Ms: percentile(sorted, 50),
    latencyP99Ms: percentile(sorted, 99),
    latencyMaxMs: sorted.at(-1) ?? null,
    non2xx,
    graphqlErrors,
    ...(expected.size > 0 ? { expectedErrors } : {}),
    transportErrors,
  };
}

/** True when every error in the body carries one of the expected codes (parsed only for bodies with errors). */
function onlyExpectedErrors(body: string, expected: ReadonlySet<string>): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return false;
  }
  const codes = graphQLErrorCodesOf(parsed);
  return codes.length > 0 && codes.every((code) => code !== undefined && expected.has(code));
}
