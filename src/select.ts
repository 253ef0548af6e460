/**
 * select: Go's `select` over channel cases, with a context and an optional default.
 *
 * How a blocking select works: one queue entry per enabled case goes into its channel's queue,
 * exactly like a blocked send or recv, and all of them share one {@link Selecting}. Whatever
 * settles one entry (a send, a receive, a close, the context's end) settles the select, and the
 * select takes its other entries out of their queues before anything else can run, so exactly
 * one case completes and the losers neither took nor sent a value. A select never pairs with
 * itself: entries only ever pair with operations that arrive later, never with each other.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - Polling the cases in array order: the first case would starve the others under load. Go
 *   polls in a random order; so do we (uniform among the ready cases).
 * - Taking a ready case when the context is already done: like {@link Channel.recv}, a done
 *   context rejects at once, so a loop over `select` stops at its first turn after cancellation.
 * @module
 */
import type { Context } from './context.js';
import { CanceledError } from './errors.js';
import { hookWait, unhook, type WaitHook } from './waitqueue.js';
import { waitingState } from './registry.js';
import { checkOptionalCtx } from './validate.js';
import { countOp, mustYield, yieldTurn } from './fairness.js';
import { ChanWaiter, type CaseOwner, type RecvCase, type SendCase } from './channel.js';

/** One case of a {@link select}; `undefined` is a disabled case that never fires (Go's nil channel). */
export type SelectCase = RecvCase<any> | SendCase<any> | undefined;

/**
 * What {@link select} resolves to: the index of the case that completed, and for a receive case
 * the `{ value, ok }` a `recv` would give (`value` undefined and `ok` true for a send case).
 * With `default: true` and nothing ready: `{ index: -1, value: undefined, ok: false }`.
 */
export interface SelectResult {
  index: number;
  value: unknown;
  ok: boolean;
}

/** What {@link select} resolves to with `default: true` when no case was ready. */
export interface SelectDefault {
  index: -1;
  value: undefined;
  ok: false;
}

/**
 * What completing case `I` of type `C` gives: for a receive case, the `{ value, ok }` of its
 * channel's element type; for a send case, `value` undefined and `ok` true. A disabled
 * (`undefined`) case never completes, so it adds nothing.
 */
export type CaseResult<C, I extends number> =
  C extends RecvCase<infer T>
    ? { index: I; value: T; ok: true } | { index: I; value: undefined; ok: false }
    : C extends SendCase<any>
      ? { index: I; value: undefined; ok: true }
      : never;

/**
 * The result of a {@link select} over `Cs`, as a union discriminated by `index`: for a tuple of
 * cases (an array literal passed straight to select), checking `r.index === 1` types `r.value` as
 * the element type of the second case's channel. For an array of unknown length, index is a number.
 */
export type SelectResultOf<Cs extends readonly SelectCase[]> = number extends Cs['length']
  ? CaseResult<Cs[number], number>
  : { [K in keyof Cs]: K extends `${infer I extends number}` ? CaseResult<Cs[K], I> : never }[number];

/** Options for {@link select}. */
export interface SelectOptions {
  /** Bounds the wait: when it ends, the select rejects with `ctx.err`. */
  ctx?: Context | undefined;
  /** When true and no case is ready, resolve at once with `index: -1` instead of waiting. */
  default?: boolean | undefined;
}

type Case = RecvCase<unknown> | SendCase<unknown>;

/**
 * The shared state of one blocked select, settled once, by whoever gets there first: a channel
 * completing one of its cases, a send case's channel closing, or the context's end (the select
 * itself hangs on its context, through its hook, like a plain wait).
 */
class Selecting implements CaseOwner {
  _settled = false;
  readonly _ctx: Context | undefined;
  /** The enabled cases (undefined: disabled) and their queued waiters, by index. */
  readonly _cases: Array<Case | undefined>;
  readonly _nodes: Array<ChanWaiter<unknown> | undefined>;
  _resolve: (r: SelectResult) => void = noop;
  _reject: (e: unknown) => void = noop;
  _hook: WaitHook | undefined = undefined;

  constructor(ctx: Context | undefined, n: number) {
    this._ctx = ctx;
    this._cases = new Array<Case | undefined>(n);
    this._nodes = new Array<ChanWaiter<unknown> | undefined>(n);
  }

  /** Takes every case out of its queue and gives back the context node and the task's state. */
  _finish(): boolean {
    if (this._settled) return false;
    this._settled = true;
    for (let i = 0; i < this._nodes.length; i++) {
      const node = this._nodes[i];
      if (node === undefined) continue;
      const c = this._cases[i] as Case;
      c._ch._unqueue(node, c._kind === 'recv');
    }
    unhook(this);
    return true;
  }

  _won(w: ChanWaiter<unknown>): void {
    if (!this._finish()) return;
    const recv = (this._cases[w._idx] as Case)._kind === 'recv';
    this._resolve(recv ? { index: w._idx, value: w._value, ok: w._ok } : { index: w._idx, value: undefined, ok: true });
  }

  _lost(err: unknown): void {
    if (this._finish()) this._reject(err);
  }

  /** Its context ended. */
  _cancelled(): void {
    this._lost(this._ctx?.err ?? new CanceledError());
  }
}

function noop(): void {}

const SELECTING = waitingState('select');

/** At most this many channel names are listed for a waiting select; the rest are counted. */
const MAX_NAMES = 3;

/**
 * The distinct names of a select's named channels for dumps ("results, quit", "a, b, c, +2 more"),
 * or '' when none is named. Built only when a select blocks inside a task.
 */
function namesOf(sel: Selecting): string {
  let names: string[] | undefined;
  for (const c of sel._cases) {
    const ch = c?._ch;
    if (ch === undefined || ch.name === '') continue;
    if (names === undefined) names = [ch.name];
    else if (!names.includes(ch.name)) names.push(ch.name);
  }
  if (names === undefined) return '';
  if (names.length <= MAX_NAMES) return names.join(', ');
  return `${names.slice(0, MAX_NAMES).join(', ')}, +${names.length - MAX_NAMES} more`;
}

const NONE: SelectResult = Object.freeze({ index: -1, value: undefined, ok: false }) as SelectResult;

/**
 * select waits until one of `cases` can proceed, completes exactly that one, and resolves to
 * `{ index, value, ok }`. Among cases ready at once the choice is uniformly random. A receive case
 * on a closed channel is ready (with `ok: false`). While it waits, its task shows
 * 'waiting: select' in dumps.
 *
 * @param cases Built by `ch.recvCase()` / `ch.sendCase(v)`; an `undefined` entry is disabled.
 * @param options `ctx` bounds the wait; `default: true` makes select never wait.
 * @throws (as a rejection) `ctx.err` when `ctx` is done first (at once if already done), with no
 *   case completed; ChannelClosedError when a send case's channel is closed (or closes while the
 *   select waits); TypeError for a case that is not one, a bad `ctx`, or when nothing is enabled
 *   and neither `default` nor `ctx` is given (that select would wait forever).
 * The result is typed by case: with cases written as an array literal, checking `r.index`
 * narrows `r.value` to that case's channel element type (see {@link SelectResultOf}).
 *
 * @example
 * ```ts
 * const r = await select([results.recvCase(), quit.recvCase()], { ctx });
 * if (r.index === 1) return;
 * if (r.ok) store(r.value); // r.value: Result
 * ```
 */
export function select<const Cs extends readonly SelectCase[]>(
  cases: Cs,
  options: SelectOptions & { default: true },
): Promise<SelectResultOf<Cs> | SelectDefault>;
export function select<const Cs extends readonly SelectCase[]>(
  cases: Cs,
  options?: SelectOptions & { default?: false | undefined },
): Promise<SelectResultOf<Cs>>;
export function select<const Cs extends readonly SelectCase[]>(
  cases: Cs,
  options: SelectOptions,
): Promise<SelectResultOf<Cs> | SelectDefault>;
export function select(cases: readonly SelectCase[], options: SelectOptions = {}): Promise<SelectResult> {
  const ctx = options?.ctx;
  const dflt = options?.default === true;
  const n = cases.length;
  let enabled = 0;
  try {
    if (!Array.isArray(cases)) throw new TypeError('select: cases must be an array');
    checkOptionalCtx(ctx, 'select');
    for (let i = 0; i < n; i++) {
      const c = cases[i];
      if (c === undefined) continue;
      if (typeof c !== 'object' || c === null || (c._kind !== 'recv' && c._kind !== 'send')) {
        throw new TypeError(`select: case ${i} is not built by recvCase()/sendCase() or undefined`);
      }
      enabled++;
    }
    if (enabled === 0 && !dflt && ctx === undefined) {
      throw new TypeError('select: no enabled case, no default and no ctx: it would wait forever');
    }
  } catch (e) {
    return Promise.reject(e);
  }
  const err = ctx?.err;
  if (err !== undefined) return Promise.reject(err);
  // The event loop's turn (see fairness.ts). Deferred whether or not a case is
  // ready: peeking every case costs more than a select that would have blocked waiting one turn.
  if (mustYield()) return yieldTurn().then(() => select(cases, options as SelectOptions));

  // Poll in a random order (Fisher–Yates over the enabled indices): uniform among ready cases.
  const order = new Array<number>(enabled);
  for (let i = 0, k = 0; i < n; i++) if (cases[i] !== undefined) order[k++] = i;
  for (let k = enabled - 1; k > 0; k--) {
    const j = Math.floor(Math.random() * (k + 1));
    const t = order[k] as number;
    order[k] = order[j] as number;
    order[j] = t;
  }
  try {
    for (let k = 0; k < enabled; k++) {
      const i = order[k] as number;
      const c = cases[i] as RecvCase<unknown> | SendCase<unknown>;
      if (c._kind === 'recv') {
        const r = c._ch.tryRecv();
        if (r.ok || r.closed) {
          countOp();
          return Promise.resolve({ index: i, value: r.value, ok: r.ok });
        }
      } else if (c._ch.trySend(c._value)) {
        countOp();
        return Promise.resolve({ index: i, value: undefined, ok: true });
      }
    }
  } catch (e) {
    return Promise.reject(e); // a send case on a closed channel
  }
  if (dflt) {
    countOp(); // a polling loop over select-with-default must not starve the event loop either
    return Promise.resolve(NONE);
  }
  return block(cases, n, ctx);
}

function block(cases: readonly SelectCase[], n: number, ctx: Context | undefined): Promise<SelectResult> {
  const sel = new Selecting(ctx, n);
  const p = new Promise<SelectResult>((resolve, reject) => {
    sel._resolve = resolve;
    sel._reject = reject;
  });
  for (let i = 0; i < n; i++) {
    const c = cases[i];
    if (c === undefined) continue;
    sel._cases[i] = c;
    if (c._kind === 'recv') {
      const r = new ChanWaiter<unknown>(ctx, undefined, sel, i);
      sel._nodes[i] = r;
      c._ch._queueRecv(r);
    } else {
      const s = new ChanWaiter<unknown>(ctx, c._value, sel, i);
      sel._nodes[i] = s;
      c._ch._queueSend(s);
    }
  }
  // hookWait may call back at once (a context that ended unseen); the select is fully queued by now.
  hookWait(sel, sel, SELECTING, namesOf);
  return p;
}
