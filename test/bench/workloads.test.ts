import fs from 'node:fs';
import path from 'node:path';
import { Supergraph } from '@apollo/federation-internals';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse, validate, type GraphQLSchema } from 'graphql';
import { createWorkloads, WORKLOAD_NAMES, type WorkloadGraph } from '../../bench/workloads';
import { buildStaticSubgraphSchema, isStaticSubgraphName, STATIC_SUBGRAPH_NAMES } from '../../bench/static-graph/subgraphs';
import { composeStaticSupergraph } from '../../bench/static-graph/supergraph';

const schemaDir = path.join(__dirname, '..', '..', 'schema');
const workloads = createWorkloads({ orderSku: 'SKU-0100', jwtSecret: 'test-jwt-secret-0123456789abcdef' });

function apiSchema(graph: WorkloadGraph = 'shop'): GraphQLSchema {
  const sdl =
    graph === 'static'
      ? composeStaticSupergraph(Object.fromEntries(STATIC_SUBGRAPH_NAMES.map((name) => [name, `http://${name}/graphql`])) as never)
      : fs.readFileSync(path.join(schemaDir, 'supergraph.graphql'), 'utf8');
  return Supergraph.build(sdl).apiSchema().toGraphQLJSSchema();
}

/** Both graphs have an `inventory`: the workload's graph says which. */
function subgraphSchema(name: string, graph: WorkloadGraph = 'shop'): GraphQLSchema {
  if (graph === 'static' && isStaticSubgraphName(name)) return buildStaticSubgraphSchema(name);
  return buildSubgraphSchema({ typeDefs: parse(fs.readFileSync(path.join(schemaDir, `${name}.graphql`), 'utf8')) });
}

const queryOf = (body: string) => (JSON.parse(body) as { query: string }).query;

describe('bench workloads', () => {
  it.each(WORKLOAD_NAMES)('%s sends only operations valid against its supergraph', (name) => {
    const schema = apiSchema(workloads[name].graph);
    for (const request of workloads[name].requests) {
      expect(validate(schema, parse(queryOf(request.body)))).toEqual([]);
    }
  });

  it.each(WORKLOAD_NAMES.filter((name) => workloads[name].direct))("%s's subgraph-direct operations are valid against that subgraph", (name) => {
    const direct = workloads[name].direct!;
    const schema = subgraphSchema(direct.subgraph, workloads[name].graph);
    for (const request of direct.requests) {
      expect(validate(schema, parse(queryOf(request.body)))).toEqual([]);
    }
  });

  it('mixes one placeOrder mutation into every ten requests', () => {
    const kinds = workloads.mixed.requests.map((request) => request.kind);
    expect(kinds).toHaveLength(10);
    expect(kinds.filter((kind) => kind === 'mutation')).toHaveLength(1);
    expect(workloads.mixed.stateful).toBe(true);
    expect(workloads.mixed.requests.at(-1)!.body).toContain('SKU-0100');
  });

  it("derives subgraph-direct's expected answer from the gateway's answer", () => {
    const reference = {
      data: {
        users: {
          edges: [
            {
              node: {
                id: '1',
                name: 'Ada',
                orders: {
                  edges: [{ node: { id: '9', totalCents: 500, items: [{ quantity: 1, product: { sku: 'SKU-0001', name: 'Lamp', stock: 3, shippingEstimateCents: 524 } }] } }],
                },
              },
            },
          ],
        },
      },
    };
    expect(workloads['cross-subgraph'].direct!.expected(reference)).toEqual({
      data: { _entities: [{ orders: { edges: [{ node: { id: '9', totalCents: 500, items: [{ quantity: 1, product: { sku: 'SKU-0001' } }] } }] } }] },
    });
    expect(workloads['single-subgraph'].direct!.expected(reference)).toBe(reference);
  });

  it("asks accounts directly for the four-subgraph query's users, projected from the gateway's answer", () => {
    const reference = { data: { users: [{ id: '1', name: 'Ines A.', username: 'ines1', birthYear: 1960, reviews: [] }] } };
    expect(workloads['four-subgraph'].graph).toBe('static');
    expect(workloads['four-subgraph'].direct!.subgraph).toBe('accounts');
    expect(workloads['four-subgraph'].direct!.expected(reference)).toEqual({
      data: { users: [{ id: '1', name: 'Ines A.', username: 'ines1', birthYear: 1960 }] },
    });
  });
});
