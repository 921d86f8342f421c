import pino from 'pino';
import type { LogFormat, LogLevel } from './config';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(service: string): Logger;
  /** Whether a line at `level` would be written: lets a caller skip building fields nobody reads. */
  enabled?(level: LogLevel): boolean;
}

/** Where log lines go: pino's destination interface, one call per line (JSON, newline-terminated). */
export type LogDestination = pino.DestinationStream;

const COLOURS: Record<string, string> = { gateway: '35', users: '36', orders: '33', inventory: '32' };

// One synchronous writer on stdout for the whole process: a line logged just before `process.exit` (a failed
// start, the end of a shutdown) is on its way before the process ends, and every logger shares it.
let stdout: LogDestination | undefined;
const standardOutput = (): LogDestination => (stdout ??= pino.destination({ dest: 1, sync: true }));

/**
 * `LOG_FORMAT=pretty`: pino writes its JSON lines into this stream, which turns each into one readable line
 * (service name coloured on a terminal, level, message, remaining fields as JSON). pino-pretty does this and more,
 * but is a second dependency tree for a development convenience; the four services `npm start` runs only need
 * their lines told apart.
 */
export function prettyDestination(target: LogDestination, colour: boolean): LogDestination {
  return {
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        target.write(line);
        return;
      }
      const { level, time: _time, service, msg, ...fields } = record;
      const name = String(service ?? '');
      const code = COLOURS[name] ?? '37';
      const label = colour ? `\x1b[${code}m${name.padEnd(9)}\x1b[0m` : name.padEnd(9);
      const extra = Object.keys(fields).length > 0 ? ' ' + JSON.stringify(fields) : '';
      target.write(`${label} ${String(level).padEnd(5)} ${String(msg ?? '')}${extra}\n`);
    },
  };
}

/**
 * Structured logs on pino: one JSON object a line (`json`: `level`, `time`, `service`, the fields, `msg`) or one
 * readable line (`pretty`), each naming its service, so the four processes `npm start` runs share one stream.
 * `destination` is stdout unless given (tests capture lines with their own).
 */
export function createLogger(
  service: string,
  options: { level: LogLevel; format: LogFormat },
  destination?: LogDestination,
): Logger {
  const target = destination ?? standardOutput();
  const stream =
    options.format === 'pretty'
      ? prettyDestination(target, destination === undefined && process.stdout.isTTY === true)
      : target;
  return wrap(
    pino(
      {
        level: options.level,
        base: { service },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      stream,
    ),
    (name) => createLogger(name, options, destination),
  );
}

function wrap(logger: pino.Logger, child: (service: string) => Logger): Logger {
  return {
    debug: (message, fields) => (fields ? logger.debug(fields, message) : logger.debug(message)),
    info: (message, fields) => (fields ? logger.info(fields, message) : logger.info(message)),
    warn: (message, fields) => (fields ? logger.warn(fields, message) : logger.warn(message)),
    error: (message, fields) => (fields ? logger.error(fields, message) : logger.error(message)),
    // A new logger rather than pino's child: a child's bindings are appended, so `service` would appear twice.
    child,
    enabled: (level) => logger.isLevelEnabled(level),
  };
}

/** A logger that drops everything, for tests that do not look at logs. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
  enabled: () => false,
};
