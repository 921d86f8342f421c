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

  it('refuses development secrets in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET or JWT_JWKS_URL/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: DEVELOPMENT_JWT_SECRET, SERVICE_SECRET: 'a-real-service-secret' })).toThrow(
      /development default is refused/,
    );
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'a-real-jwt-secret-1234' })).toThrow(/SERVICE_SECRET/);
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'a-real-jwt-secret-1234', SERVICE_SECRET: 'a-real-service-secret' });
    expect(config.log.format).toBe('json');
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
