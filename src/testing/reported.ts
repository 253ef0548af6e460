/**
 * Each leak is reported once. A test that checks a leaky piece of work with `checkLeaks` and
 * asserts on the LeakError has dealt with that leak: the guard around the test (or the suite gate,
 * or the exit report) does not report it again, even though a task that can never finish stays
 * listed for good.
 * @module
 */
import type { Entry } from '../registry.js';
import type { Leaks } from './report.js';

const tasks = new WeakSet<Entry>();
const handles = new Set<number>();
const listeners = new Set<number>();

/** Records what a LeakError about to be thrown holds. `entries` maps the leaks' task ids back to entries. @internal */
export function markReported(leaks: Leaks, entries: ReadonlyMap<number, Entry>, listenerSeqs: readonly number[]): void {
  for (const t of leaks.tasks) {
    const e = entries.get(t.id);
    if (e !== undefined) tasks.add(e);
  }
  for (const h of leaks.handles) handles.add(h.asyncId);
  for (const s of listenerSeqs) listeners.add(s);
}

/** @internal */
export function taskReported(e: Entry): boolean {
  return tasks.has(e);
}

/** @internal */
export function handleReported(asyncId: number): boolean {
  return handles.has(asyncId);
}

/** @internal */
export function listenerReported(seq: number): boolean {
  return listeners.has(seq);
}
