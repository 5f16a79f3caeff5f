// Structured logs with pino (JSON lines, cheap, the Node default for services); the Temporal
// runtime and activity/workflow loggers write through it.
import pino from 'pino';
import { Runtime, type LogLevel, type LogMetadata, type Logger } from '@temporalio/worker';

export function createLogger(level: string, destination?: string): pino.Logger {
  return pino({ level, base: { service: 'pgpromote-worker' } }, destination ? pino.destination({ dest: destination, sync: false }) : undefined);
}

/** Routes the Temporal SDK's logs to `logger`. Call once per process, before any connection. */
export function installTemporalLogging(logger: pino.Logger): void {
  const write = (level: LogLevel, message: string, meta?: LogMetadata) => {
    logger[level.toLowerCase() as 'info'](meta ?? {}, message);
  };
  const temporalLogger: Logger = {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
  Runtime.install({ logger: temporalLogger });
}
