import fs from 'node:fs';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { createRouter, executeGraphQL, listen, readGraphQLBody } from '../../lib/http';

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
