/**
 * Ambient task tracking, off until first needed. On Node 20 an AsyncLocalStorage makes every
 * promise in the process pay for async_hooks bookkeeping (measured 2–4x on promise-heavy code),
 * so the explicit `group.go(fn)` path never turns it on; the ambient `go(fn)` and
 * `configure({ ambient: true })` do. See docs/ambient.md.
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** The storage, once enabled; holds the running task (typed loosely to avoid an import cycle). @internal */
export let storage: AsyncLocalStorage<object> | undefined;

/** Turns ambient tracking on for the rest of the process's life. Idempotent. @internal */
export function enableAmbient(): void {
  storage ??= new AsyncLocalStorage<object>();
}

/** Whether ambient tracking is on. */
export function ambientEnabled(): boolean {
  return storage !== undefined;
}
