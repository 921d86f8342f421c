/**
 * compose.yaml and deploy/compose/: what `docker compose --env-file deploy/compose/.env up` would start, checked
 * without Docker. Every variable the file interpolates is in .env.example; each service of the image passes the
 * production config checks with real secrets and is refused with the placeholders; every service has a health
 * check; dependencies, service URLs and HAProxy's backend name services that exist; grace periods outlast the
 * drain; HAProxy's own configuration parses (the Debian package, as CI installs it).
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError, loadConfig } from '../../lib/config';
import { requireHaproxy } from '../helpers/haproxy';
import { imageEnvironment } from './dockerfile';

const ROOT = path.resolve(__dirname, '..', '..');
const COMPOSE_TEXT = fs.readFileSync(path.join(ROOT, 'compose.yaml'), 'utf8');
const ENV_EXAMPLE = Object.fromEntries(
  fs
    .readFileSync(path.join(ROOT, 'deploy', 'compose', '.env.example'), 'utf8')
    .split('\n')
    .filter((line) => /^\w+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);
const IMAGE_ENV = imageEnvironment(path.join(ROOT, 'Dockerfile'));
const ROLES = ['gateway', 'users', 'orders', 'inventory'];

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  networks?: Record<string, { ipv4_address?: string }>;
  volumes?: string[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  networks: { default: { ipam: { config: { subnet: string }[] } } };
}

/** Compose's interpolation for the forms used here: `${NAME}`, `${NAME:?message}`, and `$$` for a literal `$`. */
function interpolate(text: string, values: Record<string, string>): string {
  return text.replace(/\$\$|\$\{(\w+)(?::\?[^}]*)?\}/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    const value = values[name!];
    if (value === undefined) throw new Error(`compose.yaml: \${${name}} is not set`);
    return value;
  });
}
const composeWith = (values: Record<string, string>) =>
  YAML.parse(interpolate(COMPOSE_TEXT, values), { merge: true }) as ComposeFile;

const filled = Object.fromEntries(
  Object.keys(ENV_EXAMPLE).map((name) => [name, crypto.randomBytes(32).toString('hex')]),
);
const compose = composeWith(filled);
const appServices = Object.entries(compose.services).filter(([, service]) => service.image === 'shop-federation:local');

function configProblems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('compose.yaml', () => {
  it('interpolates only variables that deploy/compose/.env.example defines, and git ignores the real .env', () => {
    const used = new Set([...COMPOSE_TEXT.matchAll(/\$\{(\w+)/g)].map((match) => match[1]));
    expect([...used].sort()).toEqual(Object.keys(ENV_EXAMPLE).sort());
    const ignored = spawnSync('git', ['check-ignore', '-q', 'deploy/compose/.env'], { cwd: ROOT });
    expect(ignored.status).toBe(0);
  });

  it('runs each role of the image once, and the gateway twice', () => {
    expect(appServices.map(([, service]) => service.command?.[0]).sort()).toEqual([...ROLES].sort());
    expect(appServices.every(([, service]) => service.build === '.')).toBe(true);
    expect((compose.services.gateway as { deploy?: { replicas?: number } }).deploy?.replicas).toBe(2);
  });

  it('starts every service of the image with real secrets and refuses the placeholders', () => {
    const placeholders = composeWith(ENV_EXAMPLE);
    for (const [name, service] of appServices) {
      expect({ [name]: configProblems({ ...IMAGE_ENV, ...service.environment }) }).toEqual({ [name]: [] });
      const refused = configProblems({ ...IMAGE_ENV, ...placeholders.services[name]!.environment });
      expect({ [name]: refused }).toEqual({
        [name]: expect.arrayContaining([expect.stringMatching(/^SERVICE_SECRET: expected at least 32 bytes/)]),
      });
    }
  });

  it('checks the health of every service and waits only on services that exist', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect({ [name]: Array.isArray(service.healthcheck?.test) }).toEqual({ [name]: true });
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(Object.keys(compose.services)).toContain(dependency);
        expect(['service_healthy', 'service_started']).toContain(condition);
      }
    }
    // The app services' check asks /readyz on the port the image listens on.
    for (const [, service] of appServices) {
      expect(service.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${IMAGE_ENV.PORT}/readyz`);
    }
  });

  it('points every URL at a service of the file, HTTP ones on the port the image listens on', () => {
    for (const [, service] of appServices) {
      for (const [variable, value] of Object.entries(service.environment ?? {})) {
        if (!/_URL(_|$)/.test(variable)) continue;
        const url = new URL(value);
        expect({ variable, host: Object.keys(compose.services).includes(url.hostname) }).toEqual({
          variable,
          host: true,
        });
        if (url.protocol === 'http:') expect({ variable, port: url.port }).toEqual({ variable, port: IMAGE_ENV.PORT });
      }
    }
  });

  it('gives every service of the image longer to stop than its drain and shutdown timeout', () => {
    for (const [name, service] of appServices) {
      const env = service.environment ?? {};
      const graceSeconds = Number(/^(\d+)s$/.exec(service.stop_grace_period ?? '')?.[1]);
      const neededSeconds = (Number(env.DRAIN_MS) + Number(env.SHUTDOWN_TIMEOUT_MS)) / 1000;
      expect({ [name]: graceSeconds > neededSeconds }).toEqual({ [name]: true });
    }
  });

  it("trusts X-Forwarded-For from HAProxy's fixed address only", () => {
    const address = compose.services.haproxy!.networks!.default!.ipv4_address!;
    expect(compose.services.gateway!.environment!.TRUSTED_PROXIES).toBe(address);
    const subnet = compose.networks.default.ipam.config[0]!.subnet;
    expect(address.split('.').slice(0, 3)).toEqual(subnet.split('.').slice(0, 3));
  });
});

describe('deploy/compose/haproxy.cfg', () => {
  const config = fs.readFileSync(path.join(ROOT, 'deploy', 'compose', 'haproxy.cfg'), 'utf8');

  it('balances the gateway replicas on their /readyz, well inside their drain', () => {
    expect(config).toMatch(/^\s*server-template \S+ \d+ gateway:4000 /m);
    expect(config).toMatch(/^\s*option httpchk GET \/readyz$/m);
    const interval = Number(/inter (\d+)s/.exec(config)?.[1]);
    const fall = Number(/fall (\d+)/.exec(config)?.[1]);
    const drainSeconds = Number(compose.services.gateway!.environment!.DRAIN_MS) / 1000;
    expect(interval * fall).toBeLessThan(drainSeconds);
    expect(compose.services.haproxy!.volumes).toContain(
      './deploy/compose/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro',
    );
  });

  it('is a valid HAProxy configuration', async () => {
    await requireHaproxy();
    const result = spawnSync('haproxy', ['-c', '-f', path.join(ROOT, 'deploy', 'compose', 'haproxy.cfg')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect({ status: result.status, output: result.stdout + result.stderr }).toEqual({
      status: 0,
      output: expect.stringContaining('Configuration file is valid'),
    });
  });
});
