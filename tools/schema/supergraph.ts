import { Supergraph, type Schema } from '@apollo/federation-internals';
import { QueryPlanner } from '@apollo/query-planner';
import { buildSchema, type GraphQLSchema } from 'graphql';
import { withLinkedDirectiveTypesImported } from '../../lib/api-schema';
import { inputError, loaded, readInputFile, type Loaded } from './input';

/**
 * A schema to check against: the client-facing API schema (what `diff` and validation see) and, when the file
 * is a supergraph, what the query planner needs. A plain GraphQL SDL can be diffed but not planned.
 */
export interface LoadedSchema {
  readonly origin: string;
  readonly sdl: string;
  readonly api: GraphQLSchema;
  readonly planning: PlanningSchema | undefined;
}

export class PlanningSchema {
  private planner: QueryPlanner | undefined;

  constructor(
    readonly supergraph: Supergraph,
    readonly apiSchema: Schema,
  ) {}

  /** Built on first use: building the query graph is the expensive part and `diff` never needs it. */
  queryPlanner(): QueryPlanner {
    this.planner ??= new QueryPlanner(this.supergraph);
    return this.planner;
  }
}

const JOIN_SPEC = 'specs.apollo.dev/join/';

export function loadSchemaFile(file: string, what: string): Loaded<LoadedSchema> {
  const sdl = readInputFile(file, what);
  if (!sdl.ok) return sdl;
  return schemaFromSdl(sdl.value, file, what);
}

export function schemaFromSdl(sdl: string, origin: string, what: string): Loaded<LoadedSchema> {
  if (sdl.includes(JOIN_SPEC)) {
    try {
      // The API schema the gateway serves, so that diffs and validation see what clients see.
      const supergraph = Supergraph.build(withLinkedDirectiveTypesImported(sdl));
      const apiSchema = supergraph.apiSchema();
      return loaded({
        origin,
        sdl,
        api: apiSchema.toGraphQLJSSchema(),
        planning: new PlanningSchema(supergraph, apiSchema),
      });
    } catch (error) {
      return inputError(`${what}: ${origin} is not a valid supergraph: ${firstLine(error)}`);
    }
  }
  try {
    return loaded({ origin, sdl, api: buildSchema(sdl), planning: undefined });
  } catch (error) {
    return inputError(`${what}: ${origin} is neither a supergraph nor a valid GraphQL schema: ${firstLine(error)}`);
  }
}

const firstLine = (error: unknown): string =>
  String(error instanceof Error ? error.message : error).split('\n')[0] ?? '';
