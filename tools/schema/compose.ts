import fs from 'node:fs';
import { composeServices } from '@apollo/composition';
import { GraphQLError, Kind, parse, Source, type ASTNode, type DefinitionNode, type DocumentNode } from 'graphql';
import type { SchemaConfig } from './config';
import { inputError, loaded, readInputFile, type Loaded } from './input';

export interface SubgraphDocument {
  readonly name: string;
  readonly url: string;
  /** Where the SDL came from, for messages: a file path or `<inline sdl>`. */
  readonly origin: string;
  readonly sdl: string;
}

/** One composition error or hint, reduced to what a reviewer needs to find it in the subgraph SDLs. */
export interface CompositionIssue {
  readonly code: string;
  readonly subgraphs: readonly string[];
  /** A schema coordinate (`Type`, `Type.field`, `Type.field(arg:)`) when one can be derived, else null. */
  readonly coordinate: string | null;
  readonly message: string;
}

export type CompositionOutcome =
  | { ok: true; supergraphSdl: string; hints: readonly CompositionIssue[] }
  | { ok: false; errors: readonly CompositionIssue[] };

export type Freshness = 'fresh' | 'stale' | 'missing';

/** Reads every subgraph's SDL. A missing file is bad input (exit 2), not a composition error. */
export function readSubgraphs(config: SchemaConfig): Loaded<SubgraphDocument[]> {
  const documents: SubgraphDocument[] = [];
  for (const subgraph of config.subgraphs) {
    const { source } = subgraph;
    if (source.kind === 'inline') {
      documents.push({ name: subgraph.name, url: subgraph.routingUrl, origin: '<inline sdl>', sdl: source.sdl });
      continue;
    }
    if (source.kind === 'fetched') {
      documents.push({ name: subgraph.name, url: subgraph.routingUrl, origin: source.url, sdl: source.sdl });
      continue;
    }
    if (source.kind === 'remote') {
      return inputError(`subgraph ${subgraph.name} (${config.file}): ${source.key} ${source.url} was not read`);
    }
    const sdl = readInputFile(source.file, `subgraph ${subgraph.name} (${config.file})`);
    if (!sdl.ok) return sdl;
    documents.push({ name: subgraph.name, url: subgraph.routingUrl, origin: source.file, sdl: sdl.value });
  }
  return loaded(documents);
}

export function composeSubgraphs(subgraphs: readonly SubgraphDocument[]): CompositionOutcome {
  const parsed: { subgraph: SubgraphDocument; document: DocumentNode }[] = [];
  const syntaxErrors: CompositionIssue[] = [];
  for (const subgraph of subgraphs) {
    try {
      parsed.push({ subgraph, document: parse(new Source(subgraph.sdl, subgraph.origin)) });
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      const where = error.locations?.[0];
      const position = where ? ` at ${where.line}:${where.column}` : '';
      syntaxErrors.push({
        code: 'INVALID_GRAPHQL',
        subgraphs: [subgraph.name],
        coordinate: null,
        message: `[${subgraph.name}] ${error.message}${position}`,
      });
    }
  }
  if (syntaxErrors.length > 0) return { ok: false, errors: syntaxErrors };

  const locator = new CoordinateLocator(parsed);
  const result = composeServices(
    parsed.map(({ subgraph, document }) => ({ name: subgraph.name, url: subgraph.url, typeDefs: document })),
  );
  const subgraphNames = subgraphs.map((subgraph) => subgraph.name);
  if (result.errors) {
    return {
      ok: false,
      errors: result.errors.map((error) =>
        describeIssue(
          String(error.extensions.code ?? 'COMPOSITION_ERROR'),
          error.message,
          error.nodes,
          locator,
          subgraphNames,
        ),
      ),
    };
  }
  const hints = result.hints.map((hint) => {
    const issue = describeIssue(hint.definition.code, hint.message, hint.nodes, locator, subgraphNames);
    return hint.coordinate ? { ...issue, coordinate: hint.coordinate } : issue;
  });
  return { ok: true, supergraphSdl: result.supergraphSdl, hints };
}

/** The bytes `compose` writes: the composed SDL with a final newline. */
export const supergraphFileContents = (supergraphSdl: string): string => `${supergraphSdl}\n`;

/**
 * Whether the committed supergraph matches what composing the SDLs gives now. Line endings and trailing
 * whitespace are ignored, so a checkout with CRLF or an editor's final newline does not count as stale.
 */
export function committedSupergraphFreshness(file: string, supergraphSdl: string): Freshness {
  let committed: string;
  try {
    committed = fs.readFileSync(file, 'utf8');
  } catch {
    return 'missing';
  }
  const normalise = (text: string) => text.replace(/\r\n/g, '\n').trimEnd();
  return normalise(committed) === normalise(supergraphSdl) ? 'fresh' : 'stale';
}

function describeIssue(
  code: string,
  message: string,
  nodes: readonly ASTNode[] | undefined,
  locator: CoordinateLocator,
  subgraphNames: readonly string[],
): CompositionIssue {
  const subgraphs = new Set<string>();
  let coordinate: string | null = null;
  for (const node of nodes ?? []) {
    const located = locator.locate(node);
    if (!located) continue;
    subgraphs.add(located.subgraph);
    coordinate ??= located.coordinate;
  }
  if (subgraphs.size === 0) {
    for (const name of subgraphsNamedIn(message, subgraphNames)) subgraphs.add(name);
  }
  return { code, subgraphs: [...subgraphs], coordinate: coordinate ?? coordinateNamedIn(message), message };
}

/**
 * Composition errors point at AST nodes of the subgraph documents we parsed (a field, a directive, a type).
 * We index each document's definitions by character range once, then map a node to the innermost schema
 * element around it: a `@key` directive maps to its type, a `@requires` to its field. Nodes keep their
 * `Source`, which tells us the subgraph even when the error does not say.
 */
class CoordinateLocator {
  private readonly rangesBySource = new Map<Source, { subgraph: string; ranges: CoordinateRange[] }>();

  constructor(parsed: readonly { subgraph: SubgraphDocument; document: DocumentNode }[]) {
    for (const { subgraph, document } of parsed) {
      const source = document.loc?.source;
      if (source) this.rangesBySource.set(source, { subgraph: subgraph.name, ranges: indexCoordinates(document) });
    }
  }

  locate(node: ASTNode): { subgraph: string; coordinate: string | null } | undefined {
    const loc = node.loc;
    if (!loc) return undefined;
    const indexed = this.rangesBySource.get(loc.source);
    const subgraph = (node as { subgraph?: string }).subgraph ?? indexed?.subgraph;
    if (subgraph === undefined) return undefined;
    let best: CoordinateRange | undefined;
    for (const range of indexed?.ranges ?? []) {
      if (
        range.start <= loc.start &&
        loc.end <= range.end &&
        (!best || range.end - range.start < best.end - best.start)
      ) {
        best = range;
      }
    }
    return { subgraph, coordinate: best?.coordinate ?? null };
  }
}

export interface CoordinateRange {
  start: number;
  end: number;
  coordinate: string;
}

/** Every schema element a document defines or extends, with its character range: for locating findings. */
export function indexCoordinates(document: DocumentNode): CoordinateRange[] {
  const ranges: CoordinateRange[] = [];
  const add = (node: ASTNode, coordinate: string) => {
    if (node.loc) ranges.push({ start: node.loc.start, end: node.loc.end, coordinate });
  };
  for (const definition of document.definitions) {
    const typeName = definedTypeName(definition);
    if (typeName === undefined) continue;
    add(definition, typeName);
    if ('fields' in definition) {
      for (const field of definition.fields ?? []) {
        add(field, `${typeName}.${field.name.value}`);
        for (const argument of 'arguments' in field ? (field.arguments ?? []) : []) {
          add(argument, `${typeName}.${field.name.value}(${argument.name.value}:)`);
        }
      }
    }
    if ('values' in definition) {
      for (const value of definition.values ?? []) add(value, `${typeName}.${value.name.value}`);
    }
    if (definition.kind === Kind.DIRECTIVE_DEFINITION) {
      for (const argument of definition.arguments ?? []) add(argument, `${typeName}(${argument.name.value}:)`);
    }
  }
  return ranges;
}

function definedTypeName(definition: DefinitionNode): string | undefined {
  switch (definition.kind) {
    case Kind.OBJECT_TYPE_DEFINITION:
    case Kind.OBJECT_TYPE_EXTENSION:
    case Kind.INTERFACE_TYPE_DEFINITION:
    case Kind.INTERFACE_TYPE_EXTENSION:
    case Kind.INPUT_OBJECT_TYPE_DEFINITION:
    case Kind.INPUT_OBJECT_TYPE_EXTENSION:
    case Kind.ENUM_TYPE_DEFINITION:
    case Kind.ENUM_TYPE_EXTENSION:
    case Kind.UNION_TYPE_DEFINITION:
    case Kind.UNION_TYPE_EXTENSION:
    case Kind.SCALAR_TYPE_DEFINITION:
    case Kind.SCALAR_TYPE_EXTENSION:
      return definition.name.value;
    case Kind.DIRECTIVE_DEFINITION:
      return `@${definition.name.value}`;
    default:
      return undefined;
  }
}

const NAME = '[_A-Za-z][_0-9A-Za-z]*';
const QUOTED_FIELD = new RegExp(`"(${NAME}\\.${NAME}(?:\\(${NAME}:\\))?)"`);
const QUOTED_TYPE = new RegExp(`\\b(?:type|interface|enum|union|input|scalar|named)\\s+"(${NAME})"`, 'i');

/** Fallback for errors without AST nodes: the first `"Type.field"` the message quotes, else a quoted type. */
function coordinateNamedIn(message: string): string | null {
  return QUOTED_FIELD.exec(message)?.[1] ?? QUOTED_TYPE.exec(message)?.[1] ?? null;
}

/** Fallback for errors without AST nodes: `[name]` prefixes and quoted names of known subgraphs. */
function subgraphsNamedIn(message: string, subgraphNames: readonly string[]): string[] {
  return subgraphNames.filter((name) => message.startsWith(`[${name}]`) || message.includes(`"${name}"`));
}

/**
 * rover pins the composition version with `federation_version: =2.x.y`; we compose with the installed
 * `@apollo/composition`, so say so when the two differ instead of silently composing with another version.
 */
export function federationVersionWarning(config: SchemaConfig, installedVersion: string): string | undefined {
  const requested = config.federationVersion;
  if (requested === undefined || !requested.startsWith('=')) return undefined;
  const pinned = requested.slice(1).trim();
  if (pinned === installedVersion) return undefined;
  return `config ${config.file}: federation_version ${requested} differs from the installed @apollo/composition ${installedVersion}; composing with ${installedVersion}`;
}

export function installedCompositionVersion(): string {
  const manifest = JSON.parse(fs.readFileSync(require.resolve('@apollo/composition/package.json'), 'utf8')) as {
    version?: string;
  };
  return manifest.version ?? 'unknown';
}
