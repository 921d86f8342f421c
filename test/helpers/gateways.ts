import fs from 'node:fs';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { createGatewayServer, type GatewayServer } from '../../gateway/server';
import { createRouter, executeGraphQL, listen, readGraphQLBody } from '../../lib/http';
import { silentLogger } from '../../lib/logger';
import { testConfig } from './system';

export interface Target {
  url: string;
  close(): Promise<void>;
}

/** Plain Apollo Gateway, default settings, over a supergraph file: the reference our gateway is compared with. */
export async function startReference(supergraphPath: string): Promise<Target> {
  const apollo = new ApolloServer({
    gateway: new ApolloGateway({ supergraphSdl: fs.readFileSync(supergraphPath, 'utf8') }),
  });
  await apollo.start();
  const server = await listen(
    createRouter(
      {
        '/graphql': async (req, res) =>
          executeGraphQL(apollo, req, res, await readGraphQLBody(req, 1e7), async () => ({})),
      },
      () => undefined,
    ),
    0,
    '127.0.0.1',
  );
  return { url: `${server.url}/graphql`, close: async () => (await server.close(), await apollo.stop()) };
}

export interface Ours extends Target {
  gateway: GatewayServer;
  metricsUrl: string;
}

/** Our gateway in process over a supergraph file, with extra settings (test config otherwise). */
export async function startOurs(supergraphPath: string, env: Record<string, string>): Promise<Ours> {
  const gateway = await createGatewayServer(testConfig({ SUPERGRAPH_PATH: supergraphPath, ...env }), silentLogger);
  const server = await listen(gateway.listener, 0, '127.0.0.1');
  return {
    url: `${server.url}/graphql`,
    metricsUrl: `${server.url}/metrics`,
    gateway,
    close: async () => (await server.close(), await gateway.stop()),
  };
}

/** What a client relies on in an answer: the status, data, each error's message, path and code, and extensions. */
export interface Answer {
  status: number;
  data: unknown;
  errors: { message: string; path: unknown; code: unknown }[] | undefined;
  extensions: Record<string, unknown> | undefined;
}

export async function ask(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
  operationName?: string,
): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables, operationName }),
  });
  const body = (await response.json()) as {
    data?: unknown;
    errors?: { message: string; path?: unknown; extensions?: { code?: unknown } }[];
    extensions?: Record<string, unknown>;
  };
  return {
    status: response.status,
    data: body.data,
    errors: body.errors?.map((error) => ({ message: error.message, path: error.path, code: error.extensions?.code })),
    extensions: body.extensions,
  };
}
