/**
 * The service's log: one line per event on stderr, `[epro] message {fields}`. The same object is
 * the App's logger. Lines name submissions by id and never carry what a patient sent.
 * @module
 */
import type { Logger } from 'corral/app';

export type Log = Logger;

/** A logger writing to stderr; `quiet` drops info lines (warnings and errors still go out). */
export function createLog(name: string, quiet = false): Log {
  const line = (level: string, msg: string, fields?: Record<string, unknown>): void => {
    const extra = fields === undefined ? '' : ` ${JSON.stringify(fields)}`;
    process.stderr.write(`[${name}] ${level}${msg}${extra}\n`);
  };
  return {
    info: (msg, fields) => {
      if (!quiet) line('', msg, fields);
    },
    warn: (msg, fields) => line('warning: ', msg, fields),
    error: (msg, fields) => line('error: ', msg, fields),
  };
}
