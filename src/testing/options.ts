/**
 * Options of the leak checks, their defaults (stated once, here) and their validation.
 * @module
 */
import { describe } from '../validate.js';
import type { Baseline } from './baseline.js';

/** A string or a RegExp; how a string matches is stated per option. */
export type Matcher = string | RegExp;

/** What a leak check never reports. */
export interface LeakIgnore {
  /** Task names: a string matches the whole name, a RegExp tests it. */
  names?: readonly Matcher[];
  /** Spawn sites (and handle or listener creation sites): a string matches anywhere in the site, a RegExp tests it. */
  sites?: readonly Matcher[];
  /** Task states: a string matches the whole state, a RegExp tests it. A leaked task's last state counts too. */
  states?: readonly Matcher[];
  /** Handles: a string matches the type ('Timeout', 'TCPSERVERWRAP', …) or anywhere in the description, a RegExp tests `type + ' ' + description`. */
  handles?: readonly Matcher[];
}

/** Options for `checkLeaks` and `leakGuard`. */
export interface LeakOptions {
  /**
   * What is checked. 'test' (default): only what the test started itself (see docs/testing.md for
   * how each form scopes). 'all': everything alive at the end that was not alive at the start (or in
   * `baseline`): the whole-suite mode for CI, around a whole file or run.
   */
  scope?: 'test' | 'all';
  /** Anything alive when this baseline was taken (`takeBaseline()`) is never reported. */
  baseline?: Baseline;
  /** What never counts as a leak. */
  ignore?: LeakIgnore;
  /**
   * How long, in milliseconds, things that are closing get to finish before they count: checked
   * after a setImmediate, then again with an exponential back-off (1, 2, 4, … ms) until this much
   * has passed, like goleak. Certain leaks (tasks that can never finish) end the wait at once.
   * Default 500.
   */
  settle?: number;
  /** Check open handles (timers, sockets, servers, child processes, file handles, …). Default true. */
  handles?: boolean;
  /**
   * Also report handles that do not keep the process alive: unref'd timers and sockets, such as a
   * keep-alive agent's idle sockets or a library's unref'd cache sweep. Open file handles are always
   * reported (they never keep the process alive, but leak a descriptor). Default false.
   */
  unrefHandles?: boolean;
  /** Check abort listeners left on live signals. Default true. */
  abortListeners?: boolean;
  /**
   * Force garbage collections before reporting, so tasks that can never finish are found and marked
   * certain, and listeners on signals that are gone are not blamed. Default true.
   */
  gc?: boolean;
}

/** The options with their defaults filled in. @internal */
export interface ResolvedOptions {
  scope: 'test' | 'all';
  baseline: Baseline | undefined;
  ignore: Required<{ [K in keyof LeakIgnore]: readonly Matcher[] }>;
  settle: number;
  handles: boolean;
  unrefHandles: boolean;
  abortListeners: boolean;
  gc: boolean;
}

const KEYS = new Set(['scope', 'baseline', 'ignore', 'settle', 'handles', 'unrefHandles', 'abortListeners', 'gc']);
const IGNORE_KEYS = new Set(['names', 'sites', 'states', 'handles']);
const NONE: readonly Matcher[] = Object.freeze([]);

function matchers(v: unknown, name: string, fn: string): readonly Matcher[] {
  if (v === undefined) return NONE;
  if (!Array.isArray(v)) throw new TypeError(`${fn}: ${name} must be an array of strings and RegExps (got ${describe(v)})`);
  for (const m of v) {
    if (typeof m !== 'string' && !(m instanceof RegExp)) {
      throw new TypeError(`${fn}: ${name} must hold strings and RegExps only (got ${describe(m)})`);
    }
  }
  return [...(v as Matcher[])];
}

function flag(v: unknown, name: string, fn: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new TypeError(`${fn}: ${name} must be a boolean (got ${describe(v)})`);
  return v;
}

/** Validates `options` for `fn` and fills in the defaults. @internal */
export function resolveOptions(options: LeakOptions | undefined, fn: string, isBaseline: (v: unknown) => boolean): ResolvedOptions {
  const o = options ?? {};
  if (typeof o !== 'object' || o === null) throw new TypeError(`${fn}: options must be an object (got ${describe(o)})`);
  for (const k of Object.keys(o)) {
    if (!KEYS.has(k)) throw new TypeError(`${fn}: unknown option ${JSON.stringify(k)}`);
  }
  if (o.scope !== undefined && o.scope !== 'test' && o.scope !== 'all') {
    throw new RangeError(`${fn}: scope must be 'test' or 'all' (got ${describe(o.scope)})`);
  }
  if (o.baseline !== undefined && !isBaseline(o.baseline)) {
    throw new TypeError(`${fn}: baseline must come from takeBaseline() (got ${describe(o.baseline)})`);
  }
  const settle = o.settle ?? 500;
  if (typeof settle !== 'number' || !Number.isFinite(settle) || settle < 0) {
    throw new RangeError(`${fn}: settle must be a finite number of milliseconds >= 0 (got ${describe(o.settle)})`);
  }
  const ig = o.ignore ?? {};
  if (typeof ig !== 'object' || ig === null) throw new TypeError(`${fn}: ignore must be an object (got ${describe(ig)})`);
  for (const k of Object.keys(ig)) {
    if (!IGNORE_KEYS.has(k)) throw new TypeError(`${fn}: unknown ignore option ${JSON.stringify(k)}`);
  }
  return {
    scope: o.scope ?? 'test',
    baseline: o.baseline,
    ignore: {
      names: matchers(ig.names, 'ignore.names', fn),
      sites: matchers(ig.sites, 'ignore.sites', fn),
      states: matchers(ig.states, 'ignore.states', fn),
      handles: matchers(ig.handles, 'ignore.handles', fn),
    },
    settle,
    handles: flag(o.handles, 'handles', fn, true),
    unrefHandles: flag(o.unrefHandles, 'unrefHandles', fn, false),
    abortListeners: flag(o.abortListeners, 'abortListeners', fn, true),
    gc: flag(o.gc, 'gc', fn, true),
  };
}

/** Whether `s` is matched by one of `ms`; `whole` says how a string matcher matches. @internal */
export function matches(ms: readonly Matcher[], s: string | undefined, whole: boolean): boolean {
  if (s === undefined) return false;
  for (const m of ms) {
    if (typeof m === 'string') {
      if (whole ? s === m : s.includes(m)) return true;
    } else {
      m.lastIndex = 0; // a /g or /y RegExp keeps its position between calls
      if (m.test(s)) return true;
    }
  }
  return false;
}
