import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, describeSettings, loadConfig } from '../../lib/config';
import { gatewayHelp, parseGatewayArgs } from '../../gateway/cli';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-config-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('federation-gateway --help', () => {
  const help = gatewayHelp();

  it('lists every flag', () => {
    for (const flag of [
      '--supergraph <file>',
      '--port <n>',
      '--host <address>',
      '--config <file.yaml>',
      '--help',
      '--version',
    ])
      expect(help).toContain(flag);
  });

  it('lists every setting the config module reads, with its default', () => {
    const settings = describeSettings();
    expect(settings.length).toBeGreaterThan(60);
    for (const setting of settings) {
      const shown = setting.default === undefined ? 'unset' : setting.default || '""';
      expect(help).toMatch(new RegExp(`^  ${escape(setting.name)}\\s+${escape(shown)}(\\s|$)`, 'm'));
    }
    expect(help).toMatch(/^ {2}GATEWAY_PORT\s+4000\s+an integer from 0 to 65535$/m);
    expect(help).toMatch(/^ {2}LOG_FORMAT\s+pretty \(production: json\)\s+one of pretty, json$/m);
    expect(help).toMatch(/^ {2}SUBGRAPH_URL_<NAME>\s+unset\s+a URL \(http: or https:\)$/m);
  });
});

describe('the config file (--config)', () => {
  it('holds the environment variables, merged under the environment and the flags', () => {
    const file = configFile(
      'merged.yaml',
      [
        'PORT: 4100',
        'host: 0.0.0.0',
        'SUBGRAPH_URL_USERS: http://users.internal:8080/graphql',
        'ENTITY_CACHE_TTL: { Product: 120, Product.stock: 2 }',
        'TRUSTED_PROXIES: [10.0.0.1, 10.0.0.2]',
        'SUPERGRAPH_PATH: ./graph/supergraph.graphql',
        'LIMIT_DEPTH: 9',
        'BATCHING: false',
        '',
      ].join('\n'),
    );
    const fromFile = loadConfig({}, { configFile: file });
    expect(fromFile.gateway.port).toBe(4100);
    expect(fromFile.host).toBe('0.0.0.0');
    expect(fromFile.gateway.subgraphUrls).toEqual({ users: 'http://users.internal:8080/graphql' });
    expect(fromFile.gateway.entityCache.ttlOverrides).toEqual({ Product: 120, 'Product.stock': 2 });
    expect(fromFile.gateway.rateLimit.trustedProxies).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(fromFile.gateway.supergraphPath).toBe(path.join(dir, 'graph', 'supergraph.graphql'));
    expect(fromFile.gateway.limits?.maxDepth).toBe(9);
    expect(fromFile.gateway.batching).toBe(false);

    const environmentWins = loadConfig({ GATEWAY_PORT: '4200', LIMIT_DEPTH: '12' }, { configFile: file });
    expect(environmentWins.gateway.port).toBe(4200);
    expect(environmentWins.gateway.limits?.maxDepth).toBe(12);
    expect(environmentWins.host).toBe('0.0.0.0');

    const command = parseGatewayArgs(['--config', 'merged.yaml', '--port', '0', '--supergraph', 's.graphql'], dir);
    if (command.kind !== 'start') throw new Error(`expected start, got ${command.kind}`);
    const flagsWin = loadConfig({ GATEWAY_PORT: '4200' }, command.sources);
    expect(flagsWin.gateway.port).toBe(0);
    expect(flagsWin.gateway.supergraphPath).toBe(path.join(dir, 's.graphql'));
    expect(flagsWin.host).toBe('0.0.0.0');
  });

  it('names the setting, the value and the file of a bad value', () => {
    const file = configFile('bad.yaml', 'PORT: eighty\nLOG_LEVEL: loud\n');
    expect(problemsOf(() => loadConfig({}, { configFile: file })).sort()).toEqual([
      `LOG_LEVEL: expected one of debug, info, warn, error, got 'loud' (in ${file})`,
      `PORT: expected an integer from 0 to 65535, got 'eighty' (in ${file})`,
    ]);
    // The same value from the environment is named without a file; a flag names the flag.
    expect(problemsOf(() => loadConfig({ LOG_LEVEL: 'loud' }, {}))).toEqual([
      "LOG_LEVEL: expected one of debug, info, warn, error, got 'loud'",
    ]);
    const command = parseGatewayArgs(['--port', 'x'], dir);
    if (command.kind !== 'start') throw new Error(`expected start, got ${command.kind}`);
    expect(problemsOf(() => loadConfig({}, command.sources))).toEqual([
      "GATEWAY_PORT: expected an integer from 0 to 65535, got 'x' (from --port)",
    ]);
  });

  it('refuses an unknown key, suggesting the closest setting', () => {
    const file = configFile('unknown.yaml', 'RATE_LIMT_PER_MINUTE: 100\nSUBGRAPH_TIMEOUT: 5\nPORT: 1\n');
    expect(problemsOf(() => loadConfig({}, { configFile: file }))).toEqual([
      `RATE_LIMT_PER_MINUTE: not a known setting; did you mean RATE_LIMIT_PER_MINUTE? (in ${file})`,
      `SUBGRAPH_TIMEOUT: not a known setting; did you mean SUBGRAPH_TIMEOUT_MS? (in ${file})`,
    ]);
  });

  it('refuses a file it cannot read, invalid YAML and values no setting takes', () => {
    const missing = path.join(dir, 'missing.yaml');
    expect(problemsOf(() => loadConfig({}, { configFile: missing }))).toEqual([
      `config file ${missing}: cannot read it (ENOENT)`,
    ]);
    const invalid = configFile('invalid.yaml', 'PORT: [1\n');
    expect(problemsOf(() => loadConfig({}, { configFile: invalid }))[0]).toMatch(
      new RegExp(`^config file ${escape(invalid)}: invalid YAML: `),
    );
    const nested = configFile('nested.yaml', 'ENTITY_CACHE_TTL:\n  Product: { maxAge: 1 }\n');
    expect(problemsOf(() => loadConfig({}, { configFile: nested }))).toEqual([
      `ENTITY_CACHE_TTL: expected a string, number, boolean, or a list or map of them, got '{"Product":{"maxAge":1}}' (in ${nested})`,
    ]);
  });

  it('loads the committed example, gateway.example.yaml', () => {
    const example = path.resolve(__dirname, '..', '..', 'gateway.example.yaml');
    const config = loadConfig({}, { configFile: example });
    expect(config.gateway.supergraphPath).toBe(path.resolve(__dirname, '..', '..', 'schema', 'supergraph.graphql'));
    expect(config.gateway.entityCache.ttlOverrides).toEqual({ Product: 120, 'Product.stock': 2 });
    expect(config.gateway.rateLimit.operations).toEqual({ PlaceOrder: 10 });
  });

  it('leaves the command line to say what is wrong with the flags', () => {
    expect(parseGatewayArgs(['--bogus'], dir)).toEqual({
      kind: 'usage-error',
      message: expect.stringContaining("'--bogus'"),
    });
    expect(parseGatewayArgs(['extra'], dir)).toMatchObject({ kind: 'usage-error' });
    expect(parseGatewayArgs(['--version'], dir)).toEqual({ kind: 'version' });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
