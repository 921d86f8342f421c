import type http from 'node:http';
import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from './config';
import type { RouteHandler } from './http';
import type { Logger } from './logger';

/**
 * OpenTelemetry tracing for every service: the SDK's life cycle, the W3C `traceparent` in and out, and the
 * few span helpers the request paths call.
 *
 * Off (no OTLP endpoint, or OTEL_SDK_DISABLED), no SDK is loaded or started: `tracer` is the API's no-op tracer
 * and the helpers return at their first check, so a request pays a property read. One thing still happens
 * when off: a client's own `traceparent` is forwarded unchanged to the subgraphs, so a trace the client (or a
 * mesh in front) started stays one trace even where the gateway records nothing.
 *
 * Contexts are passed explicitly on the gateway's request path (a plan fetch is queued and flushed on a later
 * tick, with other requests' fetches around), and through AsyncLocalStorage below a subgraph's request (its
 * resolvers, DataLoaders and SQL), which the SDK's default context manager provides.
 */

const TRACER_NAME = 'federation-gateway';
const w3c = new W3CTraceContextPropagator();

/** The started SDK, when tracing is on. */
let sdk: { shutdown(): Promise<void> } | undefined;
/** The API's no-op tracer until `startTracing`, the SDK's after. */
export let tracer: Tracer = trace.getTracer(TRACER_NAME);

/** Attribute names shared by the gateway and the subgraphs (OpenTelemetry's GraphQL and HTTP ones where they exist). */
export const TraceAttributes = {
  operationName: 'graphql.operation.name',
  operationType: 'graphql.operation.type',
  subgraph: 'subgraph.name',
  statusCode: 'http.response.status_code',
} as const;

export function tracingActive(): boolean {
  return sdk !== undefined;
}

export interface TracingOverrides {
  /** Span processors to use instead of the OTLP exporter (tests: an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
}

/**
 * Starts the SDK when `settings.endpoint` is set (or span processors are given); returns whether tracing is on.
 * `serviceName` is the process's own name, used when OTEL_SERVICE_NAME is unset.
 *
 * Everything the project reads is passed explicitly (endpoint, service name, sampler, propagator). The SDK and
 * the exporter also read a few standard variables themselves, which therefore work as documented upstream:
 * OTEL_EXPORTER_OTLP_(TRACES_)HEADERS, _TIMEOUT and _COMPRESSION, OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_* (batching
 * of exports), OTEL_SPAN_*_LIMIT and OTEL_LOG_LEVEL.
 */
export async function startTracing(
  settings: TracingConfig,
  serviceName: string,
  overrides: TracingOverrides = {},
): Promise<boolean> {
  if (sdk) return true;
  if (settings.endpoint === undefined && overrides.spanProcessors === undefined) return false;
  // Loaded only when used: the SDK and its exporters take over a second and tens of MB to load.
  const [{ NodeSDK }, { OTLPTraceExporter }, samplers] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/sdk-trace-base'),
  ]);
  const ratio = new samplers.TraceIdRatioBasedSampler(settings.samplerRatio);
  const root = {
    always_on: new samplers.AlwaysOnSampler(),
    always_off: new samplers.AlwaysOffSampler(),
    traceidratio: ratio,
  };
  const sampler = settings.sampler.startsWith('parentbased_')
    ? new samplers.ParentBasedSampler({
        root: root[settings.sampler.slice('parentbased_'.length) as keyof typeof root],
      })
    : root[settings.sampler as keyof typeof root];
  const started = new NodeSDK({
    serviceName: settings.serviceName ?? serviceName,
    sampler,
    textMapPropagator: w3c,
    // Traces only: without these the SDK would also export metrics and logs over OTLP (prom-client and the
    // process's log lines already cover both).
    metricReaders: [],
    logRecordProcessors: [],
    ...(overrides.spanProcessors
      ? { spanProcessors: overrides.spanProcessors }
      : { traceExporter: new OTLPTraceExporter({ url: settings.endpoint }) }),
  });
  started.start();
  sdk = started;
  tracer = trace.getTracer(TRACER_NAME);
  return true;
}

/**
 * Flushes the spans not yet exported and stops the SDK, waiting at most `timeoutMs`: a collector that is down
 * or does not answer costs that bound, never a hung shutdown. Returns false when the flush was abandoned.
 */
export async function stopTracing(timeoutMs: number): Promise<boolean> {
  const stopping = sdk;
  if (!stopping) return true;
  sdk = undefined;
  tracer = trace.getTracer(TRACER_NAME);
  let timer: NodeJS.Timeout | undefined;
  const flushed = await Promise.race([
    stopping.shutdown().then(
      () => true,
      () => false,
    ),
    new Promise<false>((resolve) => (timer = setTimeout(resolve, Math.max(0, timeoutMs), false))),
  ]);
  clearTimeout(timer);
  // Unregistered, so that a later start (tests) can register again.
  trace.disable();
  context.disable();
  propagation.disable();
  tracer = trace.getTracer(TRACER_NAME);
  return flushed;
}

/**
 * The context a request arrived with: its valid `traceparent` (and `tracestate`), else a fresh root. Undefined
 * when this request is not traced at all (tracing off and no `traceparent`).
 */
export function extractTraceContext(headers: http.IncomingHttpHeaders): Context | undefined {
  if (!sdk && headers.traceparent === undefined) return undefined;
  return w3c.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
}

/** Adds `traceparent` (and `tracestate`) for `parent`'s span to outgoing headers; nothing for an invalid span. */
export function injectTraceContext(parent: Context | undefined, headers: Record<string, string>): void {
  if (parent !== undefined) w3c.inject(parent, headers, defaultTextMapSetter);
}

/** `traceparent` for the span active here (AsyncLocalStorage), when tracing is on. */
export function injectActiveTraceContext(headers: Record<string, string>): void {
  if (sdk) injectTraceContext(context.active(), headers);
}

export interface TracedSpan {
  span: Span;
  /** `parent` with this span as the current one: the parent of what it does. */
  context: Context;
}

/**
 * Starts a span under `parent`; undefined when `parent` is (an untraced request). Off, with a client's
 * `traceparent`, the no-op tracer hands back that same span context, which is what gets forwarded.
 */
export function startSpan(
  name: string,
  parent: Context | undefined,
  kind: SpanKind,
  attributes?: Attributes,
  links?: Link[],
): TracedSpan | undefined {
  if (parent === undefined) return undefined;
  const span = tracer.startSpan(name, { kind, attributes, links }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** Ends a span; with an error, marks it failed and records the exception. */
export function endSpan(traced: TracedSpan | undefined, error?: unknown): void {
  if (!traced) return;
  if (error !== undefined) markFailed(traced.span, error);
  traced.span.end();
}

/** Settles as `result` does, ending the span on the way (failed if `result` fails). */
export function endSpanWith<T>(traced: TracedSpan | undefined, result: Promise<T>): Promise<T> {
  if (!traced) return result;
  return result.then(
    (value) => {
      traced.span.end();
      return value;
    },
    (error: unknown) => {
      endSpan(traced, error);
      throw error;
    },
  );
}

function markFailed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/** Sets attributes on the span of `traced` (or of a context), if it records. */
export function annotate(traced: TracedSpan | Context | undefined, attributes: Attributes): void {
  if (!traced) return;
  const span = 'span' in traced ? traced.span : trace.getSpan(traced);
  if (span?.isRecording()) span.setAttributes(attributes);
}

/** Sets attributes on the span active here (AsyncLocalStorage): a request's server span, from its handler. */
export function annotateActiveSpan(attributes: Attributes): void {
  if (!sdk) return;
  const span = trace.getActiveSpan();
  if (span?.isRecording()) span.setAttributes(attributes);
}

const requestContexts = new WeakMap<http.IncomingMessage, Context>();

/** The context of a request's server span (see `tracedRoute`), for what it sends on; undefined when untraced. */
export function traceContextOf(req: http.IncomingMessage): Context | undefined {
  return requestContexts.get(req);
}

/**
 * A route whose requests each get a server span continuing the caller's `traceparent`, active while the
 * handler runs and ended when the response is over (status code recorded; 5xx and cut connections failed).
 */
export function tracedRoute(handler: RouteHandler, attributes: Attributes = {}): RouteHandler {
  return (req, res) => {
    const parent = extractTraceContext(req.headers);
    if (parent === undefined) return handler(req, res);
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const route = queryStart === -1 ? url : url.slice(0, queryStart);
    const method = req.method ?? 'GET';
    const traced = startSpan(`${method} ${route}`, parent, SpanKind.SERVER, {
      'http.request.method': method,
      'http.route': route,
      ...attributes,
    })!;
    requestContexts.set(req, traced.context);
    res.once('close', () => {
      traced.span.setAttribute(TraceAttributes.statusCode, res.statusCode);
      if (res.statusCode >= 500 || !res.writableFinished)
        traced.span.setStatus({
          code: SpanStatusCode.ERROR,
          ...(res.writableFinished ? {} : { message: 'connection closed before the response was sent' }),
        });
      traced.span.end();
    });
    return context.with(traced.context, () => handler(req, res));
  };
}

/**
 * Wraps a DataLoader batch function: one span per batch (one SQL statement, by the loaders' contract), with
 * the number of keys, under the request being served. Outside a traced request it is the function itself.
 */
export function tracedBatch<K, V>(
  name: string,
  batch: (keys: readonly K[]) => Promise<readonly (V | Error)[]>,
): (keys: readonly K[]) => Promise<readonly (V | Error)[]> {
  return (keys) => {
    if (!sdk) return batch(keys);
    const parent = context.active();
    if (!trace.getSpan(parent)) return batch(keys);
    const traced = startSpan(`batch ${name}`, parent, SpanKind.INTERNAL, { 'dataloader.batch.size': keys.length })!;
    return endSpanWith(
      traced,
      context.with(traced.context, () => batch(keys)),
    );
  };
}

/**
 * A span for one SQL statement that has just run (Kysely's query log: the statement and how long it took),
 * under the span active where it ran. Background work (outbox relay, recovery loops) runs outside any request
 * and is not traced. The statement's text has placeholders, never values.
 */
export function traceStatement(
  event: { level: 'query' | 'error'; query: { sql: string }; queryDurationMillis: number; error?: unknown },
  system: string,
): void {
  if (!sdk) return;
  const parent = context.active();
  if (!trace.getSpan(parent)) return;
  const end = Date.now();
  const text = event.query.sql;
  const operation = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? 'SQL';
  const span = tracer.startSpan(
    `${operation} ${system}`,
    {
      kind: SpanKind.CLIENT,
      startTime: end - event.queryDurationMillis,
      attributes: { 'db.system.name': system, 'db.operation.name': operation, 'db.query.text': text },
    },
    parent,
  );
  if (event.level === 'error') markFailed(span, event.error ?? 'statement failed');
  span.end(end);
}

/**
 * The last step of a graceful shutdown: exports what is left, abandoned at `deadline` (a `Date.now()` time) with
 * one log line, so a collector that is down never holds the exit.
 */
export async function stopTracingBy(deadline: number, logger: Pick<Logger, 'warn'>): Promise<void> {
  if (!sdk) return;
  if (!(await stopTracing(deadline - Date.now())))
    logger.warn('tracing: the last spans were not exported before the shutdown deadline; dropped');
}

/**
 * The operation name of a GraphQL request body: its `operationName`, else the name in its document (the
 * gateway leaves `operationName` out of the `_entities` fetches it sends), for span attributes.
 */
export function operationNameOf(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const { operationName, query } = body as { operationName?: unknown; query?: unknown };
  if (typeof operationName === 'string') return operationName;
  if (typeof query !== 'string') return undefined;
  return /^\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/.exec(query)?.[1];
}
