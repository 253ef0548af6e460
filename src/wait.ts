/**
 * Finding the task that is about to block, so corral's blocking primitives can show it as
 * 'waiting: WHAT' in dumps. The context passed to the primitive tells (any context derived from a
 * task's context answers with that task); without one, the ambient task does, when tracking is on.
 * @module
 */
import { TASK_KEY, type Context } from './context.js';
import { storage } from './als.js';
import type { Entry } from './registry.js';

/** The registry entry of the task that waits with `ctx`, if any. @internal */
export function waiterOf(ctx: Context | undefined): Entry | undefined {
  const t = ctx === undefined ? undefined : (ctx.value(TASK_KEY) as Entry | undefined);
  return t ?? (storage?.getStore() as Entry | undefined);
}
