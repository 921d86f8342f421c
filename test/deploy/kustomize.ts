/**
 * Renders a kustomization the way `kubectl apply -k` would, for the subset of kustomize that
 * deploy/kubernetes/ uses, so the tests can check what would be applied without a kustomize binary:
 * `resources` (files and directories), `namespace`, `images`, `configMapGenerator` (files, no name hash) and
 * `patches` given as JSON 6902 operations (add, remove, replace, test) with a target. Anything else in a
 * kustomization is refused by name, so the overlay cannot grow a feature this renderer would silently ignore.
 * Checked against `kubectl kustomize` (kustomize v5.5) on these manifests.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [field: string]: unknown };
  [field: string]: unknown;
}

/** What a patch applies to; `name` is a regular expression matched against the whole name, as in kustomize. */
export interface PatchTarget {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
}

export interface Rendered {
  resources: Resource[];
  /** Every patch with the resources (before patching) it matched, so a test can require a match for each. */
  patches: { target: PatchTarget; matched: string[] }[];
}

type Operation = { op: string; path: string; value?: unknown };

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches', 'configMapGenerator']);

export const resourceId = (resource: Resource) => `${resource.kind}/${resource.metadata.name}`;

export function readYamlDocuments(file: string): Resource[] {
  return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]!.message}`);
      return document.toJS() as Resource | null;
    })
    .filter((resource): resource is Resource => resource !== null);
}

export function renderKustomization(dir: string): Rendered {
  const file = path.join(dir, 'kustomization.yaml');
  const kustomization = YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  for (const field of Object.keys(kustomization)) {
    if (!SUPPORTED.has(field)) throw new Error(`${file}: '${field}' is not supported by test/deploy/kustomize.ts`);
  }

  const resources: Resource[] = [];
  const patches: Rendered['patches'] = [];
  for (const entry of (kustomization.resources ?? []) as string[]) {
    const target = path.resolve(dir, entry);
    if (fs.statSync(target).isDirectory()) {
      const inner = renderKustomization(target);
      resources.push(...inner.resources);
      patches.push(...inner.patches);
    } else {
      resources.push(...readYamlDocuments(target));
    }
  }
  for (const generator of (kustomization.configMapGenerator ?? []) as Record<string, unknown>[]) {
    resources.push(generateConfigMap(dir, generator, file));
  }

  for (const patch of (kustomization.patches ?? []) as { target?: PatchTarget; patch?: string; path?: string }[]) {
    if (!patch.target) throw new Error(`${file}: a patch without a target is a strategic merge patch; not supported`);
    const text = patch.patch ?? fs.readFileSync(path.resolve(dir, patch.path!), 'utf8');
    const operations = YAML.parse(text) as unknown;
    if (!Array.isArray(operations))
      throw new Error(`${file}: only JSON 6902 patches (a list of operations) are supported`);
    const matched = resources.filter((resource) => matches(patch.target!, resource));
    patches.push({ target: patch.target, matched: matched.map(resourceId) });
    for (const resource of matched) {
      const patched = applyJsonPatch(resource, operations as Operation[]);
      resources[resources.indexOf(resource)] = patched as Resource;
    }
  }

  if (typeof kustomization.namespace === 'string') {
    for (const resource of resources) resource.metadata.namespace = kustomization.namespace;
  }
  for (const image of (kustomization.images ?? []) as { name: string; newName?: string; newTag?: string }[]) {
    for (const resource of resources) {
      for (const container of podContainers(resource)) {
        const { name, tag } = splitImage(container.image);
        if (name !== image.name) continue;
        const newTag = image.newTag ?? tag;
        container.image = `${image.newName ?? name}${newTag ? `:${newTag}` : ''}`;
      }
    }
  }
  return { resources, patches };
}

function generateConfigMap(dir: string, generator: Record<string, unknown>, file: string): Resource {
  const options = (generator.options ?? {}) as { disableNameSuffixHash?: boolean; labels?: Record<string, string> };
  if (options.disableNameSuffixHash !== true) {
    throw new Error(
      `${file}: configMapGenerator needs options.disableNameSuffixHash: true (name hashes are not rendered)`,
    );
  }
  const data: Record<string, string> = {};
  for (const entry of (generator.files ?? []) as string[]) {
    const [key, source] = entry.includes('=') ? entry.split('=', 2) : [path.basename(entry), entry];
    data[key!] = fs.readFileSync(path.resolve(dir, source!), 'utf8');
  }
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: generator.name as string, ...(options.labels ? { labels: options.labels } : {}) },
    data,
  };
}

function matches(target: PatchTarget, resource: Resource): boolean {
  const [group, version] = resource.apiVersion.includes('/')
    ? resource.apiVersion.split('/')
    : ['', resource.apiVersion];
  if (target.group !== undefined && target.group !== group) return false;
  if (target.version !== undefined && target.version !== version) return false;
  if (target.kind !== undefined && target.kind !== resource.kind) return false;
  if (target.name !== undefined && !new RegExp(`^(?:${target.name})$`).test(resource.metadata.name)) return false;
  return true;
}

/** The containers of a Deployment's pod template (or of a bare Pod), init containers included. */
export function podContainers(resource: Resource): { name: string; image: string; [field: string]: unknown }[] {
  const spec = (
    resource.kind === 'Pod' ? resource.spec : (resource.spec as { template?: { spec?: unknown } })?.template?.spec
  ) as { containers?: []; initContainers?: [] } | undefined;
  return [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
}

function splitImage(image: string): { name: string; tag: string | undefined } {
  const at = image.indexOf('@');
  const withoutDigest = at === -1 ? image : image.slice(0, at);
  const colon = withoutDigest.lastIndexOf(':');
  return colon > withoutDigest.lastIndexOf('/')
    ? { name: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) }
    : { name: withoutDigest, tag: undefined };
}

/** RFC 6902 add, remove, replace and test over a copy of `document`; a failed `test` or a bad path throws. */
export function applyJsonPatch(document: unknown, operations: Operation[]): unknown {
  const root = structuredClone(document);
  for (const operation of operations) {
    const tokens = operation.path
      .split('/')
      .slice(1)
      .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop();
    if (last === undefined) throw new Error(`JSON patch: '${operation.path}' has no target`);
    let parent: unknown = root;
    for (const token of tokens) {
      parent = (parent as Record<string, unknown>)?.[token];
      if (parent === undefined || parent === null) throw new Error(`JSON patch: '${operation.path}' does not exist`);
    }
    const list = Array.isArray(parent) ? (parent as unknown[]) : undefined;
    const object = parent as Record<string, unknown>;
    const index = list ? (last === '-' ? list.length : Number(last)) : -1;
    const exists = list ? index >= 0 && index < list.length : last in object;
    switch (operation.op) {
      case 'add':
        if (list) list.splice(index, 0, structuredClone(operation.value));
        else object[last] = structuredClone(operation.value);
        break;
      case 'remove':
        if (!exists) throw new Error(`JSON patch: cannot remove missing '${operation.path}'`);
        if (list) list.splice(index, 1);
        else delete object[last];
        break;
      case 'replace':
        if (!exists) throw new Error(`JSON patch: cannot replace missing '${operation.path}'`);
        if (list) list[index] = structuredClone(operation.value);
        else object[last] = structuredClone(operation.value);
        break;
      case 'test': {
        const actual = list ? list[index] : object[last];
        if (JSON.stringify(actual) !== JSON.stringify(operation.value)) {
          throw new Error(`JSON patch: test of '${operation.path}' failed: ${JSON.stringify(actual)}`);
        }
        break;
      }
      default:
        throw new Error(`JSON patch: op '${operation.op}' is not supported`);
    }
  }
  return root;
}
