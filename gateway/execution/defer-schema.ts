import type { ApolloGateway } from '@apollo/gateway';
import type { GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import {
  DirectiveLocation,
  GraphQLBoolean,
  GraphQLDirective,
  GraphQLNonNull,
  GraphQLSchema,
  GraphQLString,
  visit,
  type DocumentNode,
} from 'graphql';

/**
 * Apollo's side of `@defer`: the directive in the schema clients are validated against, and deferred operations
 * made safe for Apollo's own executor (which cannot defer).
 *
 * Apollo Gateway builds its API schema
 * without it (graphql-js 16 has no `@defer`; it arrives with 17 as `GraphQLDeferDirective`), so Apollo Server
 * refuses every deferred query ("Unknown directive"). The gateway's schema-load event, which is how Apollo Server
 * learns the schema, is wrapped to add the directive as the incremental-delivery spec defines it, the same
 * definition federation-internals prints with `toGraphQLJSSchema({ includeDefer: true })`.
 */
export const DEFER_DIRECTIVE = new GraphQLDirective({
  name: 'defer',
  description: 'Delivers the fragment after the rest of the response (incremental delivery).',
  locations: [DirectiveLocation.FRAGMENT_SPREAD, DirectiveLocation.INLINE_FRAGMENT],
  args: {
    label: { type: GraphQLString },
    if: { type: new GraphQLNonNull(GraphQLBoolean), defaultValue: true },
  },
});

const withDefer = new WeakMap<GraphQLSchema, GraphQLSchema>();

/** The schema with `@defer` among its directives (the same object back when it has one already). */
export function withDeferDirective(schema: GraphQLSchema): GraphQLSchema {
  if (schema.getDirective('defer')) return schema;
  let extended = withDefer.get(schema);
  if (!extended) {
    const config = schema.toConfig();
    extended = new GraphQLSchema({ ...config, directives: [...config.directives, DEFER_DIRECTIVE] });
    withDefer.set(schema, extended);
  }
  return extended;
}

/** Makes the gateway announce its API schema with `@defer` to every schema-load listener (Apollo Server's too). */
export function serveDeferDirective(gateway: ApolloGateway): void {
  const subscribe = gateway.onSchemaLoadOrUpdate.bind(gateway);
  gateway.onSchemaLoadOrUpdate = (callback) =>
    subscribe((schemaContext) =>
      callback({ ...schemaContext, apiSchema: withDeferDirective(schemaContext.apiSchema) }),
    );
}

/** The document without its `@defer`s (the same object when it has none): what a non-deferring executor runs. */
export function documentWithoutDefer(document: DocumentNode): DocumentNode {
  let found = false;
  const stripped = visit(document, {
    Directive(node) {
      if (node.name.value !== 'defer') return undefined;
      found = true;
      return null;
    },
  });
  return found ? stripped : document;
}

/**
 * Apollo's executor cannot run Defer nodes (it asserts), and plans from the document it is given: the
 * operations it runs are planned without their defers, under their own plan-cache key.
 */
export function withoutDefer(requestContext: GatewayGraphQLRequestContext): GatewayGraphQLRequestContext {
  const document = documentWithoutDefer(requestContext.document);
  if (document === requestContext.document) return requestContext;
  return { ...requestContext, document, queryHash: `${requestContext.queryHash}:without-defer` };
}

/** With Apollo's executor alone (PLAN_EXECUTOR=apollo), a deferred operation is answered in one payload. */
export function runApolloExecutorWithoutDefer(gateway: ApolloGateway): void {
  const apolloExecutor = gateway.executor;
  gateway.executor = (requestContext) => apolloExecutor(withoutDefer(requestContext));
}
