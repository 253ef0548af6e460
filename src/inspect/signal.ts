/**
 * A task dump on a signal, as Go dumps its goroutines on SIGQUIT: `kill -USR2 <pid>` on a process
 * that seems stuck writes what every task is doing, without a debug port and without stopping it.
 * @module
 */
import { appendFileSync } from 'node:fs';
import { constants } from 'node:os';
import { describe } from '../validate.js';
import { checkDumpOptions, dump, type DumpFormat } from './dump.js';
import type { Redactor } from './redact.js';

/** Options for {@link dumpOnSignal}. */
export interface DumpOnSignalOptions {
  /** Default 'SIGUSR2'. */
  signal?: NodeJS.Signals;
  /** Default 'full'. */
  format?: DumpFormat;
  /**
   * A file to append each dump to (created with mode 0600), after a header line with the time,
   * pid and signal. Default: standard error.
   */
  file?: string;
  /** Label redaction. Default: the process-wide one (setRedaction), else none. */
  redact?: Redactor;
  /** The most rows per dump (see dump's `limit`). Default: all. */
  limit?: number;
}

const KEYS = new Set(['signal', 'format', 'file', 'redact', 'limit']);

// Signals a dump must not take over: those that cannot be caught, the one Node keeps for its
// inspector, those a service stops on (a listener would keep the process from stopping; corral/app
// owns them), and the faults that are Node's to report.
const REFUSED: Record<string, string> = {
  SIGKILL: 'cannot be caught',
  SIGSTOP: 'cannot be caught',
  SIGUSR1: "is Node's inspector signal",
  SIGINT: 'stops the process (a listener would keep it running)',
  SIGTERM: 'stops the process (a listener would keep it running)',
  SIGSEGV: "is Node's to report",
  SIGBUS: "is Node's to report",
  SIGFPE: "is Node's to report",
  SIGILL: "is Node's to report",
};

/**
 * dumpOnSignal writes a task dump (full by default) each time the process receives `signal`
 * (default SIGUSR2): to standard error, or appended to `file` after a header line
 * `=== corral dump 2025-01-01T10:00:00.000Z pid 4242 SIGUSR2 ===`. Off unless called. Returns a
 * function that removes the listener (the signal's default action comes back when no other
 * listener is left). A dump that cannot be written is reported as a process warning
 * (code CORRAL_SIGNAL_DUMP), never thrown: the process keeps running.
 *
 * Listening on a signal replaces its default action: SIGUSR2 would otherwise end the process.
 * (nodemon restarts on SIGUSR2: pick another signal, e.g. 'SIGWINCH', under nodemon.)
 *
 * @throws TypeError for an unknown option or a wrong type; RangeError for an unknown signal, one
 *   that must not be taken over (SIGKILL, SIGSTOP, SIGUSR1, SIGINT, SIGTERM, faults), a bad
 *   format or limit.
 * @example
 * ```ts
 * const stop = dumpOnSignal({ file: '/var/log/epro/tasks.dump' });
 * // kill -USR2 $(pidof node)   # then read /var/log/epro/tasks.dump
 * stop();
 * ```
 */
export function dumpOnSignal(options: DumpOnSignalOptions = {}): () => void {
  const fn = 'dumpOnSignal';
  if (typeof options !== 'object' || options === null) throw new TypeError(`${fn}: options must be an object (got ${describe(options)})`);
  for (const k of Object.keys(options)) if (!KEYS.has(k)) throw new TypeError(`${fn}: unknown option ${JSON.stringify(k)}`);
  const signal = options.signal ?? 'SIGUSR2';
  if (typeof signal !== 'string' || !(signal in constants.signals)) throw new RangeError(`${fn}: signal must be a signal name such as "SIGUSR2" (got ${describe(signal)})`);
  const refused = REFUSED[signal];
  if (refused !== undefined) throw new RangeError(`${fn}: signal ${signal} ${refused}; use SIGUSR2 or another free signal`);
  const file = options.file;
  if (file !== undefined && (typeof file !== 'string' || file === '')) throw new TypeError(`${fn}: file must be a non-empty path (got ${describe(file)})`);
  const dumpOptions = { format: options.format ?? 'full', redact: options.redact, limit: options.limit };
  // Checked now, so a bad format or limit throws here rather than at the signal.
  checkDumpOptions(dumpOptions, fn);

  const listener = (): void => {
    try {
      const header = `=== corral dump ${new Date().toISOString()} pid ${process.pid} ${signal} ===\n`;
      const text = header + dump(dumpOptions);
      if (file === undefined) process.stderr.write(text);
      else appendFileSync(file, `${text}\n`, { mode: 0o600 });
    } catch (err) {
      process.emitWarning(`corral: the dump on ${signal} failed: ${err instanceof Error ? err.message : String(err)}`, { code: 'CORRAL_SIGNAL_DUMP' });
    }
  };
  process.on(signal, listener);
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    process.off(signal, listener);
  };
}
