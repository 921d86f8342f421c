import type { LogFormat, LogLevel } from './config';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(service: string): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const COLOURS: Record<string, string> = { gateway: '35', users: '36', orders: '33', inventory: '32' };

/**
 * Structured logs: one JSON object a line (`json`) or one readable line (`pretty`), each naming its service,
 * so the four processes that `npm start` runs share one stream that stays readable.
 */
export function createLogger(
  service: string,
  options: { level: LogLevel; format: LogFormat },
  write: (line: string) => void = (line) => process.stdout.write(line + '\n'),
): Logger {
  const minimum = RANK[options.level];
  const colour = process.stdout.isTTY ? (COLOURS[service] ?? '37') : undefined;
  const emit = (level: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    if (RANK[level] < minimum) return;
    if (options.format === 'json') {
      write(JSON.stringify({ time: new Date().toISOString(), level, service, msg: message, ...fields }));
      return;
    }
    const label = colour ? `\x1b[${colour}m${service.padEnd(9)}\x1b[0m` : service.padEnd(9);
    const extra = fields && Object.keys(fields).length > 0 ? ' ' + JSON.stringify(fields) : '';
    write(`${label} ${level.padEnd(5)} ${message}${extra}`);
  };
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    child: (name) => createLogger(name, options, write),
  };
}

/** A logger that drops everything, for tests that do not look at logs. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
