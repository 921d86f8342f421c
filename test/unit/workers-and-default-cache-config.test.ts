import os from 'node:os';
import { loadConfig } from '../../lib/config';

describe('GATEWAY_WORKERS', () => {
  it('is 1 by default, a number of workers, or one per CPU with auto', () => {
    expect(loadConfig({}).gateway.workers).toBe(1);
    expect(loadConfig({ GATEWAY_WORKERS: '3' }).gateway.workers).toBe(3);
    expect(loadConfig({ GATEWAY_WORKERS: 'auto' }).gateway.workers).toBe(os.availableParallelism());
  });

  it('refuses anything else, naming the variable and the value', () => {
    for (const bad of ['0', 'two', '-1', '1.5', '257'])
      expect(() => loadConfig({ GATEWAY_WORKERS: bad })).toThrow(
        `GATEWAY_WORKERS: expected auto or an integer from 1 to 256, got '${bad}'`,
      );
  });
});

describe('the default entity cache policy settings', () => {
  it('are off by default', () => {
    expect(loadConfig({}).gateway.entityCache).toMatchObject({ defaultMaxAge: 0, publicTypes: [] });
  });

  it('read a maxAge in seconds and a list of public types', () => {
    const config = loadConfig({ ENTITY_CACHE_DEFAULT_MAX_AGE: '30', ENTITY_CACHE_PUBLIC_TYPES: 'Product, Category' });
    expect(config.gateway.entityCache).toMatchObject({ defaultMaxAge: 30, publicTypes: ['Product', 'Category'] });
  });

  it('refuses a maxAge that is not whole seconds and a type name that is not a GraphQL name', () => {
    expect(() => loadConfig({ ENTITY_CACHE_DEFAULT_MAX_AGE: '1m' })).toThrow(
      "ENTITY_CACHE_DEFAULT_MAX_AGE: expected an integer from 0 to 31536000, got '1m'",
    );
    expect(() => loadConfig({ ENTITY_CACHE_PUBLIC_TYPES: 'Product,Product.price' })).toThrow(
      "ENTITY_CACHE_PUBLIC_TYPES: expected comma-separated type names, got 'Product.price'",
    );
  });
});
