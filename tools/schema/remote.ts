/**
 * Subgraphs whose SDL is read from a running service (`schema.subgraph_url`, or `introspection_url`), as rover
 * does: a POST of `{ _service { sdl } }`, the federation query every subgraph answers. Everything else in the
 * tool is synchronous and offline, so the CLI reads these once before a command runs and hands the SDLs in.
 */
import type { SchemaConfig, SubgraphConfig } from './config';
import { inputError, loaded, type Loaded } from './input';

/** How long one subgraph may take to answer before the command gives up on it. */
export const SDL_FETCH_TIMEOUT_MS = 10_000;

const SERVICE_SDL_QUERY = '{ _service { sdl } }';

/** The SDL of every remote subgraph of `config`, by subgraph name; the first failure names the subgraph and URL. */
export async function fetchRemoteSchemas(
  config: SchemaConfig,
  timeoutMs = SDL_FETCH_TIMEOUT_MS,
): Promise<Loaded<ReadonlyMap<string, string>>> {
  const remote = config.subgraphs.filter((subgraph) => subgraph.source.kind === 'remote');
  const results = await Promise.all(remote.map((subgraph) => fetchSdl(subgraph, timeoutMs)));
  const fetched = new Map<string, string>();
  for (const [index, result] of results.entries()) {
    if (!result.ok) return result;
    fetched.set(remote[index]!.name, result.value);
  }
  return loaded(fetched);
}

/** `config` with each remote source replaced by the SDL read for it (left as is when there is none). */
export function withFetchedSchemas(config: SchemaConfig, fetched: ReadonlyMap<string, string>): SchemaConfig {
  if (!config.subgraphs.some((subgraph) => subgraph.source.kind === 'remote')) return config;
  const subgraphs = config.subgraphs.map((subgraph): SubgraphConfig => {
    const sdl = fetched.get(subgraph.name);
    return subgraph.source.kind === 'remote' && sdl !== undefined
      ? { ...subgraph, source: { kind: 'fetched', url: subgraph.source.url, sdl } }
      : subgraph;
  });
  return { ...config, subgraphs };
}

async function fetchSdl(subgraph: SubgraphConfig, timeoutMs: number): Promise<Loaded<string>> {
  const { source } = subgraph;
  if (source.kind !== 'remote') throw new Error(`subgraph ${subgraph.name} is not remote`);
  const failure = (reason: string) =>
    inputError<string>(`subgraph ${subgraph.name}: cannot read its SDL from ${source.url} (${source.key}): ${reason}`);
  let response: Response;
  try {
    response = await fetch(source.url, {
      method: 'POST',
      headers: { ...source.headers, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query: SERVICE_SDL_QUERY }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : '';
    if (error instanceof Error && error.name === 'TimeoutError') return failure(`no answer within ${timeoutMs} ms`);
    return failure(cause || String(error));
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    return failure(`HTTP ${response.status}, not a JSON answer`);
  }
  const sdl = (body as { data?: { _service?: { sdl?: unknown } } } | null)?.data?._service?.sdl;
  if (typeof sdl === 'string' && sdl.trim() !== '') return loaded(sdl);
  const errors = (body as { errors?: { message?: unknown }[] } | null)?.errors;
  const firstError = Array.isArray(errors) && typeof errors[0]?.message === 'string' ? `: ${errors[0].message}` : '';
  return failure(
    `HTTP ${response.status}, no data._service.sdl in the answer${firstError} (is it a federation subgraph?)`,
  );
}
