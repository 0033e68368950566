/**
 * Logging: pino, one JSON line per event to stdout, one child logger per component
 * (`logger.child({ component: 'resp' })`). Writes are synchronous so the start-up line is
 * visible the moment the node listens and nothing is lost when the process exits right after a
 * shutdown; logging is kept out of per-command paths, so the cost of sync writes is bounded.
 */
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Where lines go; default stdout (fd 1). Tests pass a stream to capture lines. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? pino.destination({ fd: 1, sync: true });
  return pino(
    {
      level: options.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A logger that discards everything (library use and tests that do not inspect logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
