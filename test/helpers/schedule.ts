import assert from 'node:assert/strict';
import { inspectContext, type Context } from '../../src/context.js';

/** Lets every queued microtask and promise callback run: one macrotask turn. */
export const turn = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

/** `n` macrotask turns. */
export async function ticks(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await turn();
}

/** A promise and its resolver, to drive schedules explicitly instead of sleeping. */
export function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

/** Follows a promise's outcome, readable after a turn. */
export function track(p: Promise<unknown>): { state: 'pending' | 'resolved' | 'rejected'; err: unknown } {
  const t = { state: 'pending' as 'pending' | 'resolved' | 'rejected', err: undefined as unknown };
  p.then(
    () => (t.state = 'resolved'),
    (e: unknown) => {
      t.state = 'rejected';
      t.err = e;
    },
  );
  return t;
}

/** The number of children and waiters hanging off a corral context. */
export function hanging(ctx: Context): number {
  const info = inspectContext(ctx);
  assert.ok(info, 'a corral context');
  return info.children;
}
