import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** Paths pino blanks in every line, whatever a caller passes in: no secret reaches a log. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'config.password',
  'config.dataplanePassword',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'token',
  '*.token',
  'key',
  '*.key',
  'privateKey',
  '*.privateKey',
];

/**
 * JSON lines on stdout (or the given destination), secrets redacted, errors logged as `{ err }`.
 * @param name the role, written as `name` in every line
 */
export function createLogger(
  name: string,
  level: LevelWithSilent = 'info',
  destination?: pino.DestinationStream,
): Logger {
  const options = {
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err },
    base: { pid: process.pid },
  };
  return destination ? pino(options, destination) : pino(options);
}

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
