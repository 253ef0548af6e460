/**
 * Argument checks shared by every module, so a bad argument reads the same everywhere: the
 * function, the argument, and a data-free description of what was received.
 * @module
 */
import type { Context } from './context.js';

/** A short, data-free description of a bad argument for an error message. @internal */
export function describe(v: unknown): string {
  if (typeof v === 'object' && v !== null) return v.constructor?.name ?? 'object';
  if (typeof v === 'string') return JSON.stringify(v);
  return typeof v === 'function' ? 'a function' : String(v);
}

/** Whether `v` has the shape of a Context (user-written ones included). @internal */
export function isContextLike(v: unknown): v is Context {
  const c = v as Partial<Context> | null | undefined;
  return typeof c === 'object' && c !== null && typeof c.value === 'function' && typeof c.throwIfDone === 'function';
}

/** Throws TypeError unless `ctx` is a Context. @internal */
export function checkCtx(ctx: unknown, fn: string): asserts ctx is Context {
  if (!isContextLike(ctx)) {
    throw new TypeError(`${fn}: ctx must be a Context (got ${describe(ctx)}); pass background() for none`);
  }
}

/** Throws TypeError unless `ctx` is undefined or a Context. @internal */
export function checkOptionalCtx(ctx: unknown, fn: string): asserts ctx is Context | undefined {
  if (ctx !== undefined && !isContextLike(ctx)) throw badOptionalCtx(ctx, fn);
}

/** The TypeError for an optional `ctx` that is not a Context, for callers that reject rather than throw. @internal */
export function badOptionalCtx(ctx: unknown, fn: string): TypeError {
  return new TypeError(`${fn}: ctx must be a Context or undefined (got ${describe(ctx)})`);
}
