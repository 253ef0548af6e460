/**
 * The ambient owner: `go(fn)` spawns into the group of the task that is running now, else into
 * the process's root group, so a task started deep in a call chain without a context still has an
 * owner and is cancelled with it.
 * @module
 */
import { background, type Context } from './context.js';
import { enableAmbient, storage } from './als.js';
import { Group } from './group.js';
import { F_OBSERVED, type GoOptions, type Task } from './task.js';

let root: Group | undefined;

/**
 * rootGroup returns the process's root group: the owner of tasks spawned by `go()` outside any
 * task. It never fails fast and is never disposed by corral. A failure of one of its tasks that
 * nobody awaits is reported as a process warning (code CORRAL_UNOBSERVED_FAILURE), never dropped.
 */
export function rootGroup(): Group {
  if (root === undefined) {
    root = new Group(background(), { name: 'root', failFast: false });
    // Nobody waits on the root group, so a failure nobody awaits must be surfaced another way.
    root._failureSink = reportUnobserved;
  }
  return root;
}

function reportUnobserved(t: Task<unknown>, err: unknown): void {
  // Give the spawner until the next macrotask to await the task, as Node does for rejections.
  setImmediate(() => {
    if ((t._flags & F_OBSERVED) !== 0) return;
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.emitWarning(`task ${t.id} "${t.name}" of the root group failed and nothing awaited it: ${detail}`, {
      code: 'CORRAL_UNOBSERVED_FAILURE',
    });
  }).unref();
}

/** The task running now, when ambient tracking is on. */
export function currentTask(): Task<unknown> | undefined {
  return storage?.getStore() as Task<unknown> | undefined;
}

/**
 * go starts `fn(ctx)` as a task owned by the ambient group: the group of the task running now,
 * else the root group. The first call turns ambient tracking on for the process (an
 * AsyncLocalStorage; on Node 20 it slows promise-heavy code, see docs/ambient.md); call
 * {@link enableAmbientTracking} at startup so tasks spawned before the first `go()` are tracked
 * too. Prefer `group.go()` on hot paths: it never needs ambient tracking.
 *
 * @example
 * ```ts
 * go(async (ctx) => { await auditLog.write(ctx, entry); }, { name: 'audit' });
 * ```
 */
export function go<T>(fn: (ctx: Context) => T | PromiseLike<T>, options?: GoOptions): Task<Awaited<T>> {
  enableAmbient();
  const current = storage?.getStore() as Task<unknown> | undefined;
  const group = (current?._owner as Group | undefined) ?? rootGroup();
  return group._spawn(fn, options, go, false) as Task<Awaited<T>>;
}

/** enableAmbientTracking turns on ambient task tracking now, so `go()` and `new Group()` find the current task. Idempotent. */
export function enableAmbientTracking(): void {
  enableAmbient();
}
