import { changeStreamKey, ConfigError, loadConfig } from '../../lib/config';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ NODE_ENV: 'test', ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe('the Redis settings', () => {
  it('reads one server from REDIS_URL, keeping the stream name as it is', () => {
    const { redis } = loadConfig({ NODE_ENV: 'test', REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(redis).toMatchObject({ target: { kind: 'single', url: 'redis://127.0.0.1:6379' }, url: 'redis://127.0.0.1:6379', changeStream: 'entity-changes' });
  });

  it('reads a cluster from REDIS_CLUSTER_NODES, and puts the change stream in a hash tag', () => {
    const { redis } = loadConfig({ NODE_ENV: 'test', REDIS_CLUSTER_NODES: 'redis://h1:7000, rediss://h2:7001' });
    expect(redis).toMatchObject({
      target: { kind: 'cluster', rootNodes: ['redis://h1:7000', 'rediss://h2:7001'] },
      url: undefined,
      changeStream: '{entity-changes}',
    });
    expect(loadConfig({ NODE_ENV: 'test', REDIS_CLUSTER_NODES: 'redis://h1:7000', CHANGE_STREAM: 'shop:{events}' }).redis.changeStream).toBe('shop:{events}');
  });

  it('leaves Redis off when neither is set', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).redis).toMatchObject({ target: undefined, url: undefined });
  });

  it('names the variable and the value of a bad node, and refuses both settings at once', () => {
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'redis://h1:7000,http://h2:7001' })).toEqual([
      "REDIS_CLUSTER_NODES: expected comma-separated redis: or rediss: URLs, got 'http://h2:7001'",
    ]);
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'redis://u:secret@h1:7000,nonsense' })).toEqual([
      "REDIS_CLUSTER_NODES: expected comma-separated redis: or rediss: URLs, got 'nonsense'",
    ]);
    expect(problemsOf({ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'redis://h1:7000' })).toEqual([
      "REDIS_CLUSTER_NODES: set it or REDIS_URL, not both (REDIS_URL is 'redis://a:6379', REDIS_CLUSTER_NODES is 'redis://h1:7000')",
    ]);
  });

  it('treats empty braces as no hash tag, as Redis does', () => {
    const cluster = { kind: 'cluster', rootNodes: ['redis://h:1'] } as const;
    expect(changeStreamKey('a{}b', cluster)).toBe('{a{}b}');
    expect(changeStreamKey('{x}', cluster)).toBe('{x}');
    expect(changeStreamKey('{x}', { kind: 'single', url: 'redis://h:1' })).toBe('{x}');
    expect(changeStreamKey('x', undefined)).toBe('x');
  });
});
