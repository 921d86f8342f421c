import { ConfigError, DEVELOPMENT_JWT_SECRET, loadConfig } from '../../lib/config';

describe('loadConfig', () => {
  it('starts with nothing set: embedded SQLite, development secrets, the default ports', () => {
    const config = loadConfig({});
    expect(config.nodeEnv).toBe('development');
    expect(config.gateway.port).toBe(4000);
    expect(config.subgraphs.orders).toMatchObject({ port: 4002, database: { kind: 'sqlite' } });
    expect(config.gateway.jwt.secret).toBe(DEVELOPMENT_JWT_SECRET);
    expect(Object.isFrozen(config.gateway)).toBe(true);
  });

  it('names every bad variable and its value in one error', () => {
    let error: unknown;
    try {
      loadConfig({ GATEWAY_PORT: 'eighty', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x', SEED_DEMO_DATA: 'maybe' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain("GATEWAY_PORT: expected an integer from 0 to 65535, got 'eighty'");
    expect(problems).toContain("LOG_LEVEL: expected one of debug, info, warn, error, got 'loud'");
    expect(problems).toContain("DATABASE_URL: expected a postgres: or postgresql: URL, got 'mysql://x'");
    expect(problems).toContain("SEED_DEMO_DATA: expected true or false, got 'maybe'");
  });

  const STRONG_JWT_SECRET = 'a-real-jwt-secret-0123456789abcdef';
  const STRONG_SERVICE_SECRET = 'a-real-service-secret-0123456789abcdef';

  it('refuses development secrets in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET or JWT_JWKS_URL/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: DEVELOPMENT_JWT_SECRET, SERVICE_SECRET: STRONG_SERVICE_SECRET })).toThrow(
      /development default is refused/,
    );
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: STRONG_JWT_SECRET })).toThrow(/SERVICE_SECRET/);
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: STRONG_JWT_SECRET, SERVICE_SECRET: STRONG_SERVICE_SECRET });
    expect(config.log.format).toBe('json');
  });

  it('refuses secrets shorter than 32 bytes in production, naming the variable and the length', () => {
    expect(() =>
      loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'a-real-jwt-secret-1234', SERVICE_SECRET: STRONG_SERVICE_SECRET }),
    ).toThrow('JWT_SECRET: expected at least 32 bytes when NODE_ENV=production, got 22');
    expect(() =>
      loadConfig({ NODE_ENV: 'production', JWT_SECRET: STRONG_JWT_SECRET, SERVICE_SECRET: 'short-service-secret' }),
    ).toThrow('SERVICE_SECRET: expected at least 32 bytes when NODE_ENV=production, got 20');
  });

  it('turns introspection, the explorer and public /metrics off in production unless asked', () => {
    const production = loadConfig({ NODE_ENV: 'production', JWT_SECRET: STRONG_JWT_SECRET, SERVICE_SECRET: STRONG_SERVICE_SECRET });
    expect(production.gateway).toMatchObject({ introspection: false, explorer: false, metrics: { public: false } });
    const development = loadConfig({});
    expect(development.gateway).toMatchObject({ introspection: true, explorer: true, metrics: { public: true } });
    const withToken = loadConfig({
      NODE_ENV: 'production',
      JWT_SECRET: STRONG_JWT_SECRET,
      SERVICE_SECRET: STRONG_SERVICE_SECRET,
      METRICS_TOKEN: 'a-metrics-token-0123456789',
      INTROSPECTION: 'true',
    });
    expect(withToken.gateway).toMatchObject({ introspection: true, metrics: { public: true, token: 'a-metrics-token-0123456789' } });
  });

  it('reads limits, rate limits and trusted documents, naming bad values', () => {
    const config = loadConfig({ LIMIT_DEPTH: '7', RATE_LIMIT_OPERATIONS: 'Checkout=5, Search=100', TRUSTED_PROXIES: '10.0.0.1' });
    expect(config.gateway.limits?.maxDepth).toBe(7);
    expect(config.gateway.rateLimit).toMatchObject({ operations: { Checkout: 5, Search: 100 }, trustedProxies: ['10.0.0.1'] });
    expect(loadConfig({ DOCUMENT_LIMITS: 'false' }).gateway.limits).toBeUndefined();
    expect(() => loadConfig({ RATE_LIMIT_OPERATIONS: 'Checkout=fast' })).toThrow("RATE_LIMIT_OPERATIONS: expected OperationName=requestsPerMinute (a positive integer), comma-separated, got 'Checkout=fast'");
    expect(() => loadConfig({ TRUSTED_PROXIES: 'proxy.local' })).toThrow("TRUSTED_PROXIES: expected IP addresses, got 'proxy.local'");
    expect(() => loadConfig({ TRUSTED_DOCUMENTS: 'strict' })).toThrow("TRUSTED_DOCUMENTS: expected one of off, allow-unknown, enforce, got 'strict'");
  });

  it('runs each service on PostgreSQL, in its own schema, with a per-service URL taking precedence', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://db/shop',
      ORDERS_DATABASE_URL: 'postgres://orders-db/orders',
      DATABASE_SCHEMA_PREFIX: 'shop_',
    });
    expect(config.subgraphs.users.database).toMatchObject({ kind: 'postgres', url: 'postgres://db/shop', schema: 'shop_users' });
    expect(config.subgraphs.orders.database).toMatchObject({ kind: 'postgres', url: 'postgres://orders-db/orders', schema: 'shop_orders' });
  });

  it('hides passwords in messages about URLs', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://admin:hunter2@db/x' })).toThrow("got 'mysql://admin:***@db/x'");
  });

  it('reads routing URL overrides for any subgraph name', () => {
    const config = loadConfig({ SUBGRAPH_URL_REVIEWS: 'http://reviews:8080/graphql' });
    expect(config.gateway.subgraphUrls).toEqual({ reviews: 'http://reviews:8080/graphql' });
  });
});
