// What the Watchdog's tests share: a watchdog that records instead of printing, and rule sets
// that keep a test independent of the machine's load.
import { Watchdog, type Alert, type WatchdogOptions } from '../../src/inspect/watchdog.js';

/** A watchdog whose alerts and clears land in arrays instead of stderr. */
export function watch(options: WatchdogOptions = {}): { w: Watchdog; fired: Alert[]; cleared: Alert[] } {
  const fired: Alert[] = [];
  const cleared: Alert[] = [];
  const w = new Watchdog({ onAlert: (a) => fired.push(a), onClear: (a) => cleared.push(a), ...options });
  return { w, fired, cleared };
}

/** Only the rules about tasks, so a test about them does not depend on the machine's load. */
export const TASK_RULES_ONLY = {
  eventLoopDelay: false,
  eventLoopUtilization: false,
  heap: false,
  handles: false,
  abortListeners: false,
  warnings: false,
} as const;
