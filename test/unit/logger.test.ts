import { createLogger, type LogDestination } from '../../lib/logger';

/** A destination that keeps every line pino writes. */
function capture(): LogDestination & { lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (line: string) => void lines.push(line) };
}

describe('createLogger (pino)', () => {
  it('writes one JSON object a line: level name, ISO time, service, the fields, msg', () => {
    const out = capture();
    createLogger('gateway', { level: 'info', format: 'json' }, out).info('listening', { port: 4000 });
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]!.endsWith('\n')).toBe(true);
    const line = JSON.parse(out.lines[0]!) as Record<string, unknown>;
    expect(line).toEqual({ level: 'info', time: expect.any(String), service: 'gateway', port: 4000, msg: 'listening' });
    expect(new Date(line.time as string).toISOString()).toBe(line.time);
  });

  it('drops lines below its level', () => {
    const out = capture();
    const logger = createLogger('users', { level: 'warn', format: 'json' }, out);
    logger.debug('a');
    logger.info('b');
    logger.warn('c');
    logger.error('d');
    expect(out.lines.map((line) => (JSON.parse(line) as { level: string; msg: string }).msg)).toEqual(['c', 'd']);
    expect(out.lines.map((line) => (JSON.parse(line) as { level: string }).level)).toEqual(['warn', 'error']);
  });

  it('names the child’s service once, on the same destination', () => {
    const out = capture();
    createLogger('start', { level: 'info', format: 'json' }, out).child('orders').info('hello');
    expect(out.lines[0]!.match(/"service"/g)).toHaveLength(1);
    expect(JSON.parse(out.lines[0]!)).toMatchObject({ service: 'orders', msg: 'hello' });
  });

  it('pretty: one readable line, service padded, level, message, remaining fields as JSON (no colour off a terminal)', () => {
    const out = capture();
    const logger = createLogger('inventory', { level: 'debug', format: 'pretty' }, out);
    logger.debug('seeded demo data');
    logger.warn('slow', { ms: 12 });
    expect(out.lines).toEqual(['inventory debug seeded demo data\n', 'inventory warn  slow {"ms":12}\n']);
  });
});
