import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Fetcher } from '@apollo/utils.fetcher';
import { GraphQLError } from 'graphql';
import { callerHeaders, type Caller } from '../lib/identity';
import type { GatewayMetrics } from './metrics';

export interface GatewayContext {
  caller: Caller;
}

/**
 * The gateway's one seam onto the network: every subgraph fetch goes through `process()` here. It forwards
 * the caller's identity, signed so that subgraphs trust only the gateway; bounds each fetch by a timeout; and
 * turns network failures into errors with stable codes (SUBGRAPH_UNAVAILABLE, SUBGRAPH_TIMEOUT) so the
 * client gets partial data with a clear error instead of a masked internal one.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  constructor(
    readonly name: string,
    url: string,
    private readonly options: { serviceSecret: string; timeoutMs: number; metrics: GatewayMetrics },
  ) {
    super({ url });
    const timeoutMs = options.timeoutMs;
    this.fetcher = ((input: string, init?: RequestInit) =>
      fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) })) as unknown as Fetcher;
  }

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const caller = context?.caller;
    if (!caller || !request.http) return;
    for (const [name, value] of Object.entries(callerHeaders(this.options.serviceSecret, caller))) {
      request.http.headers.set(name, value);
    }
  }

  override async process(options: GraphQLDataSourceProcessOptions<GatewayContext>) {
    const started = performance.now();
    this.options.metrics.subgraphRequests.inc({ subgraph: this.name });
    try {
      return await super.process(options);
    } catch (error) {
      this.options.metrics.subgraphErrors.inc({ subgraph: this.name });
      throw error;
    } finally {
      this.options.metrics.subgraphDuration.observe((performance.now() - started) / 1000, { subgraph: this.name });
    }
  }

  override didEncounterError(error: Error, _request: unknown, response?: { status: number }): void {
    if (response) {
      throw new GraphQLError(`Subgraph '${this.name}' answered HTTP ${response.status}`, {
        extensions: { code: 'SUBGRAPH_UNAVAILABLE', serviceName: this.name, http: { status: 502 } },
      });
    }
    const timedOut = error.name === 'TimeoutError' || error.name === 'AbortError';
    throw new GraphQLError(
      timedOut
        ? `Subgraph '${this.name}' did not answer within ${this.options.timeoutMs} ms`
        : `Subgraph '${this.name}' is unavailable`,
      { extensions: { code: timedOut ? 'SUBGRAPH_TIMEOUT' : 'SUBGRAPH_UNAVAILABLE', serviceName: this.name } },
    );
  }
}
