/**
 * The check that runs after `main()` has stopped the app: the process should now exit by itself,
 * because nothing keeps the event loop busy. If it does not within the grace, something was left
 * open (a timer, a socket, a server nobody closed): say what, then exit 1 rather than hang until
 * the orchestrator's SIGKILL, which would say nothing.
 * @module
 */
import { dumpTasks } from '../dump.js';
import { liveCounts } from '../registry.js';

/**
 * Arms an unref'd timer: it never keeps the process alive itself, so it fires only if something
 * else does. `write` gets the report. @internal
 */
export function watchExit(graceMs: number, write: (msg: string) => void): void {
  if (graceMs === Infinity) return;
  const timer = setTimeout(() => {
    // getActiveResourcesInfo() lists only what keeps the loop alive: ref'd handles and requests
    // (this timer is unref'd, so it is not among them).
    const alive = process.getActiveResourcesInfo();
    const counts = new Map<string, number>();
    for (const r of alive) counts.set(r, (counts.get(r) ?? 0) + 1);
    const list = [...counts].map(([r, n]) => (n === 1 ? r : `${r} x${n}`)).join(', ');
    let msg = `the process did not exit ${graceMs} ms after the app stopped; still keeping it alive: ${list || 'nothing reported'}`;
    if (liveCounts().tasks > 0) msg += `\n${dumpTasks()}`;
    write(msg);
    process.exit(1);
  }, graceMs);
  timer.unref();
}
