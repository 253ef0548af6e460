/**
 * The errors corral's core throws or rejects with. Each has a stable `code` so callers can test
 * for it without `instanceof` (which breaks across duplicated installs of the package).
 * @module
 */

/**
 * CanceledError is a context's `err` when it was cancelled by its `cancel()` function, by a parent,
 * or by an aborted signal. The user's cause, if any, is on `cause`.
 *
 * @example
 * ```ts
 * const { ctx, cancel } = withCancel(background());
 * cancel(new Error('patient withdrew'));
 * ctx.err instanceof CanceledError; // true
 * ctx.err.cause;                    // Error: patient withdrew
 * ```
 */
export class CanceledError extends Error {
  /** Always `'ERR_CORRAL_CANCELED'`. */
  readonly code = 'ERR_CORRAL_CANCELED' as const;
  constructor(cause?: unknown, message = 'context canceled') {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'CanceledError';
  }
}

/**
 * DeadlineExceededError is a context's `err` when its deadline passed. It is recognisable as a
 * timeout: `timeout` is `true`, and {@link isTimeout} accepts it as it accepts a DOM `TimeoutError`.
 *
 * @example
 * ```ts
 * const { ctx } = withTimeout(background(), 10);
 * await ctx.done;
 * ctx.err instanceof DeadlineExceededError; // true
 * ```
 */
export class DeadlineExceededError extends Error {
  /** Always `'ERR_CORRAL_DEADLINE_EXCEEDED'`. */
  readonly code = 'ERR_CORRAL_DEADLINE_EXCEEDED' as const;
  /** Always `true`: this error is a timeout. */
  readonly timeout = true as const;
  constructor(cause?: unknown, message = 'context deadline exceeded') {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'DeadlineExceededError';
  }
}

/**
 * GroupClosedError is thrown by `go()`/`tryGo()` on a group that was disposed, and by `go()` on a
 * group whose limit is 0.
 */
export class GroupClosedError extends Error {
  /** Always `'ERR_CORRAL_GROUP_CLOSED'`. */
  readonly code = 'ERR_CORRAL_GROUP_CLOSED' as const;
  constructor(message: string) {
    super(message);
    this.name = 'GroupClosedError';
  }
}

/**
 * InvalidStateError is thrown when an operation does not fit the object's current state: changing
 * a group's limit while tasks run, a WaitGroup counter going below zero, releasing more semaphore
 * tokens than are held.
 */
export class InvalidStateError extends Error {
  /** Always `'ERR_CORRAL_INVALID_STATE'`. */
  readonly code = 'ERR_CORRAL_INVALID_STATE' as const;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidStateError';
  }
}

/** What a {@link StopTimeoutError} says about one task that did not stop. */
export interface StuckTask {
  id: number;
  name: string;
  state: string;
  /** Milliseconds since the task entered its current state. */
  stateAge: number;
  /** The formatted spawn site, when it was captured. */
  spawnSite: string | undefined;
}

/**
 * StopTimeoutError is thrown when a group is disposed and some of its tasks ignored the
 * cancellation for longer than the group's `stopTimeout`. They are named, never silently dropped.
 */
export class StopTimeoutError extends Error {
  /** Always `'ERR_CORRAL_STOP_TIMEOUT'`. */
  readonly code = 'ERR_CORRAL_STOP_TIMEOUT' as const;
  /** The tasks still running when the timeout passed. */
  readonly tasks: StuckTask[];
  constructor(message: string, tasks: StuckTask[]) {
    super(message);
    this.name = 'StopTimeoutError';
    this.tasks = tasks;
  }
}

/**
 * isCancellation reports whether `err` means "stopped because told to": a {@link CanceledError},
 * a {@link DeadlineExceededError}, or a DOM `AbortError`/`TimeoutError` (what `fetch` and
 * `timers/promises` reject with when their signal aborts).
 */
export function isCancellation(err: unknown): boolean {
  if (err instanceof CanceledError || err instanceof DeadlineExceededError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ERR_CORRAL_CANCELED' || code === 'ERR_CORRAL_DEADLINE_EXCEEDED') return true;
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

/**
 * isTimeout reports whether `err` is a timeout: a {@link DeadlineExceededError} or a DOM
 * `TimeoutError` (what `AbortSignal.timeout()` aborts with).
 */
export function isTimeout(err: unknown): boolean {
  if (err instanceof DeadlineExceededError) return true;
  const e = err as { code?: unknown; name?: unknown } | null;
  return e?.code === 'ERR_CORRAL_DEADLINE_EXCEEDED' || e?.name === 'TimeoutError';
}

// Errors made by the library on hot paths (every cancel, every deadline) skip stack capture: the
// stack would only show corral's internals and costs microseconds. Users constructing the classes
// themselves get the ordinary stack.
function withoutStack<E>(make: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** @internal */
export function quietCanceled(cause: unknown): CanceledError {
  return withoutStack(() => new CanceledError(cause));
}

/** @internal */
export function quietDeadline(cause: unknown): DeadlineExceededError {
  return withoutStack(() => new DeadlineExceededError(cause));
}

/**
 * ChannelClosedError is thrown by a send on a closed channel (also rejecting a sender that was
 * blocked when the channel closed, its value discarded) and by closing a channel twice.
 *
 * @example
 * ```ts
 * ch.close();
 * ch.trySend(1); // throws ChannelClosedError
 * ```
 */
export class ChannelClosedError extends Error {
  /** Always `'ERR_CORRAL_CHANNEL_CLOSED'`. */
  readonly code = 'ERR_CORRAL_CHANNEL_CLOSED' as const;
  constructor(message = 'send on closed channel') {
    super(message);
    this.name = 'ChannelClosedError';
  }
}
