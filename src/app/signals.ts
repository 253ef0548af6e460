/**
 * The process-level listeners `main()` installs: OS signals and, opt-in, uncaughtException and
 * unhandledRejection. They are installed as one set and removed as one set, so an app that ended
 * leaves the process's default behaviour (a signal kills, an uncaught error crashes) as it was.
 * @module
 */
import { constants } from 'node:os';

/** What the listeners call. @internal */
export interface ProcessHandlers {
  signal(sig: NodeJS.Signals): void;
  fatal(kind: 'uncaughtException' | 'unhandledRejection', err: unknown): void;
}

/** Installs the listeners and returns the function that removes them (idempotent). @internal */
export function installProcessListeners(
  signals: readonly NodeJS.Signals[],
  handleUncaught: boolean,
  handlers: ProcessHandlers,
): () => void {
  const onSignal = (sig: NodeJS.Signals): void => handlers.signal(sig);
  const onException = (err: unknown): void => handlers.fatal('uncaughtException', err);
  const onRejection = (reason: unknown): void => handlers.fatal('unhandledRejection', reason);
  for (const s of signals) process.on(s, onSignal);
  if (handleUncaught) {
    process.on('uncaughtException', onException);
    process.on('unhandledRejection', onRejection);
  }
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    for (const s of signals) process.off(s, onSignal);
    if (handleUncaught) {
      process.off('uncaughtException', onException);
      process.off('unhandledRejection', onRejection);
    }
  };
}

/** The exit code a shell reports for a process killed by `sig`: 128 + its number. @internal */
export function signalExitCode(sig: NodeJS.Signals): number {
  return 128 + (constants.signals[sig] ?? 0);
}
