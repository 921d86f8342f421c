/**
 * deploy/kubernetes: the base and the production overlay, rendered as `kubectl apply -k` would (./kustomize.ts),
 * validated against the Kubernetes API schemas (kubernetes-models) and checked for what a schema cannot see:
 * every reference resolves, probes ask the right paths on the container's port, the grace period outlasts the
 * drain, the supergraph mount is one the kubelet updates, and every role runs from the image's entry point.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { ConfigError, loadConfig } from '../../lib/config';
import { schemaDir } from '../../lib/paths';
import { imageEnvironment } from './dockerfile';
import {
  podContainers,
  readYamlDocuments,
  renderKustomization,
  resourceId,
  type Rendered,
  type Resource,
} from './kustomize';

const ROOT = path.resolve(__dirname, '..', '..');
const KUBERNETES = path.join(ROOT, 'deploy', 'kubernetes');
const base = renderKustomization(path.join(KUBERNETES, 'base'));
const production = renderKustomization(path.join(KUBERNETES, 'overlays', 'production'));
const exampleSecrets = readYamlDocuments(path.join(KUBERNETES, 'secret.example.yaml'));

const IMAGE_ENV = imageEnvironment(path.join(ROOT, 'Dockerfile'));
const exampleValues = (exampleSecrets[0]!.stringData ?? {}) as Record<string, string>;
/** The example Secret as an operator would fill it in: each placeholder secret replaced by 32 random bytes. */
const filledValues = Object.fromEntries(
  Object.entries(exampleValues).map(([key, value]) => [
    key,
    value === 'change-me' ? crypto.randomBytes(32).toString('hex') : value,
  ]),
);

/** What lib/config.ts refuses in this environment (empty: the service would start). */
function configProblems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

/** The roles deploy/docker/entrypoint.sh runs (its `case` labels). */
const ENTRYPOINT_ROLES = new Set(
  [
    ...fs.readFileSync(path.join(ROOT, 'deploy', 'docker', 'entrypoint.sh'), 'utf8').matchAll(/^\s*([a-z |]+)\)\s*$/gm),
  ].flatMap((match) => match[1]!.split('|').map((role) => role.trim())),
);

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { secretRef?: { name: string }; configMapRef?: { name: string } }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: unknown; httpGet?: unknown } };
  securityContext?: {
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
}
const podSpec = (deployment: Resource) =>
  (deployment.spec as { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } }).template;
const ofKind = (resources: Resource[], kind: string) => resources.filter((resource) => resource.kind === kind);
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

function validateWithKubernetesModels(resources: Resource[]): { name: string; errors: string[] }[] {
  const result = spawnSync(process.execPath, [path.join(__dirname, 'validate-kubernetes.mjs')], {
    cwd: ROOT,
    input: JSON.stringify(resources),
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (result.status !== 0) throw new Error(`validate-kubernetes.mjs failed: ${result.stderr || result.error?.message}`);
  return JSON.parse(result.stdout) as { name: string; errors: string[] }[];
}

describe.each([
  ['base', base],
  ['production overlay', production],
] as [string, Rendered][])('the %s', (_label, rendered) => {
  const { resources } = rendered;
  const deployments = ofKind(resources, 'Deployment');
  const secrets = [...ofKind(resources, 'Secret'), ...exampleSecrets];
  const configMaps = ofKind(resources, 'ConfigMap');
  const services = ofKind(resources, 'Service');

  it('is valid against the Kubernetes API schemas', () => {
    const results = validateWithKubernetesModels([...resources, ...exampleSecrets]);
    expect(results.map((entry) => entry.name)).toEqual([...resources, ...exampleSecrets].map(resourceId));
    expect(results.filter((entry) => entry.errors.length > 0)).toEqual([]);
  });

  it('runs the gateway and each subgraph from the image entry point, with a Service each', () => {
    const roles = deployments.map((deployment) => podSpec(deployment).spec.containers[0]!.args?.[0]);
    expect(roles.sort()).toEqual(['gateway', 'inventory', 'orders', 'users']);
    for (const role of roles) expect(ENTRYPOINT_ROLES).toContain(role);
    for (const deployment of deployments) {
      const labels = podSpec(deployment).metadata.labels;
      const selector = (deployment.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
      expect(selects(selector, labels)).toBe(true);
      const service = services.find((candidate) =>
        selects((candidate.spec as { selector: Record<string, string> }).selector, labels),
      );
      expect(service).toBeDefined();
      const ports = podSpec(deployment).spec.containers[0]!.ports ?? [];
      for (const { targetPort } of (service!.spec as { ports: { targetPort: string | number }[] }).ports) {
        expect(ports.some((port) => port.name === targetPort || port.containerPort === targetPort)).toBe(true);
      }
    }
  });

  it('refers only to Secrets, keys, ConfigMaps and Services that exist', () => {
    for (const deployment of deployments) {
      const spec = podSpec(deployment).spec;
      for (const container of spec.containers) {
        for (const variable of container.env ?? []) {
          const secretRef = variable.valueFrom?.secretKeyRef;
          if (secretRef) {
            const secret = secrets.find((candidate) => candidate.metadata.name === secretRef.name);
            expect({ [variable.name]: secret ? 'found' : `no Secret ${secretRef.name}` }).toEqual({
              [variable.name]: 'found',
            });
            const keys = Object.keys({ ...(secret!.data as object), ...(secret!.stringData as object) });
            expect(keys).toContain(secretRef.key);
          }
          const configRef = variable.valueFrom?.configMapKeyRef;
          if (configRef) {
            const configMap = configMaps.find((candidate) => candidate.metadata.name === configRef.name);
            expect(Object.keys((configMap?.data ?? {}) as object)).toContain(configRef.key);
          }
          // Service URLs (SUBGRAPH_URL_*, INVENTORY_URL) name a Service of this set, on a port it serves.
          if (variable.value?.startsWith('http://')) {
            const url = new URL(variable.value);
            const service = services.find((candidate) => candidate.metadata.name === url.hostname);
            expect({ [variable.name]: service ? 'found' : `no Service ${url.hostname}` }).toEqual({
              [variable.name]: 'found',
            });
            const ports = (service!.spec as { ports: { port: number }[] }).ports.map((port) => port.port);
            expect(ports).toContain(Number(url.port || 80));
          }
        }
        for (const source of container.envFrom ?? []) {
          if (source.secretRef) expect(secrets.map((secret) => secret.metadata.name)).toContain(source.secretRef.name);
          if (source.configMapRef)
            expect(configMaps.map((map) => map.metadata.name)).toContain(source.configMapRef.name);
        }
      }
      for (const volume of spec.volumes ?? []) {
        if (volume.configMap) expect(configMaps.map((map) => map.metadata.name)).toContain(volume.configMap.name);
        if (volume.secret) expect(secrets.map((secret) => secret.metadata.name)).toContain(volume.secret.secretName);
      }
    }
    for (const autoscaler of ofKind(resources, 'HorizontalPodAutoscaler')) {
      const target = (autoscaler.spec as { scaleTargetRef: { apiVersion: string; kind: string; name: string } })
        .scaleTargetRef;
      const found = resources.find(
        (resource) =>
          resource.apiVersion === target.apiVersion &&
          resource.kind === target.kind &&
          resource.metadata.name === target.name,
      );
      expect(found && resourceId(found)).toBe(`${target.kind}/${target.name}`);
      // The autoscaler owns the replica count: a value in the Deployment would be re-applied over its scaling.
      expect((found!.spec as { replicas?: number }).replicas).toBeUndefined();
    }
    for (const budget of ofKind(resources, 'PodDisruptionBudget')) {
      const selector = (budget.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
      const covered = deployments.filter((deployment) => selects(selector, podSpec(deployment).metadata.labels));
      expect(covered.map(resourceId)).toEqual([`Deployment/${budget.metadata.name}`]);
    }
    expect(
      ofKind(resources, 'PodDisruptionBudget')
        .map((budget) => budget.metadata.name)
        .sort(),
    ).toEqual(['gateway', 'inventory', 'orders', 'users']);
  });

  it("passes the production config checks in every container, with the Secret's keys filled in", () => {
    for (const deployment of deployments) {
      const container = podSpec(deployment).spec.containers[0]!;
      const env = { ...IMAGE_ENV, ...containerEnv(container, filledValues) };
      expect({ [deployment.metadata.name]: configProblems(env) }).toEqual({ [deployment.metadata.name]: [] });
    }
  });

  it('probes /healthz for liveness and /readyz for readiness on the container port', () => {
    for (const deployment of deployments) {
      const container = podSpec(deployment).spec.containers[0]!;
      const port = container.ports![0]!;
      const onPort = (probe: Probe | undefined) => [
        probe?.httpGet?.path,
        port.name === probe?.httpGet?.port || port.containerPort === probe?.httpGet?.port,
      ];
      expect({ [deployment.metadata.name]: onPort(container.livenessProbe) }).toEqual({
        [deployment.metadata.name]: ['/healthz', true],
      });
      expect({ [deployment.metadata.name]: onPort(container.readinessProbe) }).toEqual({
        [deployment.metadata.name]: ['/readyz', true],
      });
      expect({ [deployment.metadata.name]: onPort(container.startupProbe) }).toEqual({
        [deployment.metadata.name]: ['/healthz', true],
      });
      // Every role listens on $PORT in the image (4000; deploy/docker/entrypoint.sh).
      expect(port.containerPort).toBe(4000);
    }
  });

  it('gives every pod a grace period longer than its preStop, drain and shutdown timeout together', () => {
    for (const deployment of deployments) {
      const spec = podSpec(deployment).spec;
      const container = spec.containers[0]!;
      const env = Object.fromEntries((container.env ?? []).map((variable) => [variable.name, variable.value]));
      // Stated in the manifest, not left to the image's defaults, so this check reads what will run.
      expect(env.DRAIN_MS).toMatch(/^\d+$/);
      expect(env.SHUTDOWN_TIMEOUT_MS).toMatch(/^\d+$/);
      expect(container.lifecycle?.preStop?.exec ?? container.lifecycle?.preStop?.httpGet).toBeUndefined();
      const preStopSeconds = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
      const neededSeconds = preStopSeconds + (Number(env.DRAIN_MS) + Number(env.SHUTDOWN_TIMEOUT_MS)) / 1000;
      expect({ [deployment.metadata.name]: spec.terminationGracePeriodSeconds! > neededSeconds }).toEqual({
        [deployment.metadata.name]: true,
      });
    }
  });

  it('runs as a non-root user on a read-only root file system', () => {
    for (const deployment of deployments) {
      const spec = podSpec(deployment).spec;
      expect(spec.securityContext?.runAsNonRoot).toBe(true);
      expect(spec.securityContext?.runAsUser).toBeGreaterThan(0);
      for (const container of spec.containers) {
        expect(container.securityContext).toMatchObject({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        });
      }
    }
  });

  it('mounts the supergraph ConfigMap as a directory the gateway reads and the kubelet keeps up to date', () => {
    const gateway = deployments.find((deployment) => deployment.metadata.name === 'gateway')!;
    const { containers, volumes } = podSpec(gateway).spec;
    const env = Object.fromEntries((containers[0]!.env ?? []).map((variable) => [variable.name, variable.value]));
    const mount = containers[0]!.volumeMounts!.find((candidate) =>
      env.SUPERGRAPH_PATH?.startsWith(`${candidate.mountPath}/`),
    )!;
    expect(mount).toBeDefined();
    // A subPath mount is never updated by the kubelet: the watcher would never see a new supergraph.
    expect(mount.subPath).toBeUndefined();
    expect(env.SUPERGRAPH_WATCH ?? 'true').toBe('true');
    const volume = volumes!.find((candidate) => candidate.name === mount.name)!;
    const configMap = configMaps.find((map) => map.metadata.name === volume.configMap?.name)!;
    const key = path.relative(mount.mountPath, env.SUPERGRAPH_PATH!);
    expect(Object.keys(configMap.data as object)).toEqual([key]);
    expect((configMap.data as Record<string, string>)[key]).toBe(
      fs.readFileSync(path.join(schemaDir, 'supergraph.graphql'), 'utf8'),
    );
  });
});

/** A container's environment, with Secret references resolved from `secretValues`. */
function containerEnv(container: Container, secretValues: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    (container.env ?? []).map((variable) => [
      variable.name,
      variable.value ?? secretValues[variable.valueFrom?.secretKeyRef?.key ?? ''] ?? '',
    ]),
  );
}

it("refuses to start with the example Secret's placeholders", () => {
  for (const deployment of ofKind(base.resources, 'Deployment')) {
    const env = { ...IMAGE_ENV, ...containerEnv(podSpec(deployment).spec.containers[0]!, exampleValues) };
    expect(configProblems(env)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^JWT_SECRET: expected at least 32 bytes/),
        expect.stringMatching(/^SERVICE_SECRET: expected at least 32 bytes/),
      ]),
    );
  }
});

describe('the production overlay', () => {
  it('patches only what exists in the base, each patch matching at least one object', () => {
    const baseIds = new Set(base.resources.map(resourceId));
    expect(production.patches.length).toBeGreaterThan(0);
    for (const patch of production.patches) {
      expect({ target: patch.target, matched: patch.matched.length > 0 }).toEqual({
        target: patch.target,
        matched: true,
      });
      for (const id of patch.matched) expect(baseIds).toContain(id);
    }
  });

  it('puts everything in its namespace and uses the released image', () => {
    for (const resource of production.resources) expect(resource.metadata.namespace).toBe('shop');
    const images = new Set(
      production.resources.flatMap((resource) => podContainers(resource).map((container) => container.image)),
    );
    expect([...images]).toEqual([expect.stringMatching(/^[^:]+\/shop-federation:[\w.-]+$/)]);
  });
});

it('keeps deploy/kubernetes/base/supergraph.graphql identical to schema/supergraph.graphql', () => {
  const copy = fs.readFileSync(path.join(KUBERNETES, 'base', 'supergraph.graphql'), 'utf8');
  const source = fs.readFileSync(path.join(schemaDir, 'supergraph.graphql'), 'utf8');
  if (copy !== source) {
    throw new Error(
      'deploy/kubernetes/base/supergraph.graphql is stale; run: cp schema/supergraph.graphql deploy/kubernetes/base/',
    );
  }
});
