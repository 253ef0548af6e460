/**
 * OpenTelemetry spans for corral tasks. A span starts when a task is spawned (the registry's
 * spawn slot) and ends when it finishes (the finish slot), and its parent is the span of the task
 * that owns the task's group, so a trace follows the task tree. A task with no traced owner task
 * is the top of a traced subtree: its parent is the OpenTelemetry context active where it was
 * spawned (an HTTP request's span, say), and the sampling decision is made there; every task
 * below a traced one is traced, so a trace has no holes.
 *
 * Rejected: creating spans at finish time with an explicit start time. Children finish before
 * their parent, so a child's span would need its parent's span id before the parent's span
 * exists; and a span that only appears at the end hides work in progress from the exporter.
 * @module
 */
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { TASK_KEY, type Context } from '../context.js';
import { describe } from '../validate.js';
import type { Entry } from '../registry.js';
import type { Task } from '../task.js';
import {
  addFinishObserver,
  addSpawnObserver,
  removeFinishObserver,
  removeSpawnObserver,
  type Outcome,
} from '../inspect/metrics-hooks.js';

/** Options for {@link enableTracing}. */
export interface TracingOptions {
  /** The tracer spans are made with. Default: `trace.getTracer('corral')` from the global provider. */
  tracer?: Tracer;
  /**
   * The fraction of tasks without a traced owner task that start a trace, from 0 to 1; picked
   * evenly (every 4th spawn for 0.25), not at random. Default 1. Not with `sampler`.
   */
  sampleRate?: number;
  /** Decides whether a task without a traced owner task starts a trace. Not with `sampleRate`. */
  sampler?: (task: Task<unknown>) => boolean;
  /**
   * Turns a label into the value of the span attribute `corral.label.KEY`, or `undefined` to leave
   * it out. Default: every label as it is (labels are shown in dumps too; never put patient data in them).
   */
  redact?: (key: string, value: string) => string | undefined;
}

interface Config {
  tracer: Tracer;
  sample: (task: Task<unknown>) => boolean;
  redact: ((key: string, value: string) => string | undefined) | undefined;
}

const KEYS = new Set(['tracer', 'sampleRate', 'sampler', 'redact']);

/** The tracing in force, or undefined when no new task is traced. */
let active: Config | undefined;
/** Spans started and not ended yet: the finish observer stays until this is 0 after a disable. */
let open = 0;
// A traced task's span, kept after it ends (until the task is collected) so that a task spawned
// into its group later still finds its parent.
const spans = new WeakMap<Entry, Span>();

let warned = false;
function warn(what: string, err: unknown): void {
  if (warned) return;
  warned = true;
  process.emitWarning(`corral/otel: ${what} threw ${errorType(err)}; tracing goes on without it (warned once)`, {
    code: 'CORRAL_OTEL_ERROR',
  });
}

/** A data-free description of an error: its type, never its message (which may carry data). */
function errorType(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.name} (${code})` : err.name;
  }
  return err === null ? 'null' : typeof err;
}

function onSpawn(e: Entry): void {
  const cfg = active;
  if (cfg === undefined) return;
  const owner = e._owner?._owner;
  const parent = owner === undefined ? undefined : spans.get(owner);
  // The sampled-out path stays this short: most tasks take it when sampling.
  if (parent === undefined && !sampled(cfg, e as Task<unknown>)) return;
  startSpan(cfg, e, parent);
}

function sampled(cfg: Config, t: Task<unknown>): boolean {
  try {
    return cfg.sample(t);
  } catch (err) {
    warn('the sampler', err);
    return false;
  }
}

function startSpan(cfg: Config, e: Entry, parent: Span | undefined): void {
  // A second call for one task comes from code that wrapped the slot around ours.
  if (spans.has(e)) return;
  try {
    const attributes: Attributes = { 'corral.task.name': e._name, 'corral.task.id': e.id };
    const group = e._owner;
    if (group !== undefined) attributes['corral.group.name'] = group._name;
    const labels = e._labels;
    if (labels !== undefined) {
      for (const key in labels) {
        const value = cfg.redact === undefined ? labels[key] : cfg.redact(key, labels[key] as string);
        if (value !== undefined) attributes[`corral.label.${key}`] = value;
      }
    }
    const ctx = parent === undefined ? context.active() : trace.setSpan(context.active(), parent);
    spans.set(e, cfg.tracer.startSpan(e._name, { kind: SpanKind.INTERNAL, attributes }, ctx));
    open++;
  } catch (err) {
    // Never let tracing break a spawn: the task runs untraced.
    warn('a redact function or the tracer', err);
  }
}

function onFinish(e: Entry, outcome: Outcome): void {
  if (open === 0) return;
  const span = spans.get(e);
  if (span === undefined) return;
  try {
    span.setAttribute('corral.task.outcome', outcome);
    if (outcome === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: errorType((e as Task<unknown>)._value) });
    span.end();
  } catch (err) {
    warn('the span processor', err);
  }
  open--;
  if (active === undefined && open === 0) removeFinishObserver(onFinish);
}

/** Evenly spaced sampling: a credit grows by `rate` per candidate and pays for a trace at 1. */
function rateSampler(rate: number): (task: Task<unknown>) => boolean {
  if (rate >= 1) return () => true;
  if (rate <= 0) return () => false;
  let credit = 0;
  return () => {
    credit += rate;
    if (credit < 1) return false;
    credit -= 1;
    return true;
  };
}

/**
 * enableTracing makes an OpenTelemetry span for every task spawned from now on (or the sampled
 * ones): named after the task, with attributes `corral.task.name`, `corral.task.id`,
 * `corral.group.name` and `corral.label.KEY` per label (through `redact`); at the end
 * `corral.task.outcome` (succeeded, failed, canceled), and status ERROR with the error's type
 * (never its message) when the task failed. A task's span is the child of the span of the task
 * that owns its group; a task without one is the child of the context active where it was
 * spawned. Calling it again replaces the options. Costs: see docs/metrics.md.
 *
 * The span is not made the active context inside the task (corral has no hook around a task's
 * run); use {@link taskSpan} to parent other instrumentation under it.
 *
 * @throws TypeError for an unknown option, a non-function `tracer.startSpan`, `sampler` or
 *   `redact`, or both `sampleRate` and `sampler`; RangeError for a `sampleRate` outside 0..1.
 * @example
 * ```ts
 * import { enableTracing } from 'corral/otel';
 * enableTracing({ sampleRate: 0.1, redact: (key, v) => (key === 'form' ? v : undefined) });
 * ```
 */
export function enableTracing(options: TracingOptions = {}): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`enableTracing: options must be an object (got ${describe(options)})`);
  }
  for (const k of Object.keys(options)) {
    if (!KEYS.has(k)) throw new TypeError(`enableTracing: unknown option ${JSON.stringify(k)}`);
  }
  const { tracer = trace.getTracer('corral'), sampleRate, sampler, redact } = options;
  if (typeof tracer !== 'object' || tracer === null || typeof tracer.startSpan !== 'function') {
    throw new TypeError(`enableTracing: tracer must be an OpenTelemetry Tracer (got ${describe(tracer)})`);
  }
  if (sampleRate !== undefined && sampler !== undefined) {
    throw new TypeError('enableTracing: give sampleRate or sampler, not both');
  }
  if (sampleRate !== undefined && (typeof sampleRate !== 'number' || !(sampleRate >= 0 && sampleRate <= 1))) {
    throw new RangeError(`enableTracing: sampleRate must be a number from 0 to 1 (got ${describe(sampleRate)})`);
  }
  if (sampler !== undefined && typeof sampler !== 'function') {
    throw new TypeError(`enableTracing: sampler must be a function (got ${describe(sampler)})`);
  }
  if (redact !== undefined && typeof redact !== 'function') {
    throw new TypeError(`enableTracing: redact must be a function (got ${describe(redact)})`);
  }
  active = { tracer, sample: sampler ?? rateSampler(sampleRate ?? 1), redact };
  addSpawnObserver(onSpawn);
  addFinishObserver(onFinish);
}

/**
 * disableTracing stops tracing new tasks. The spans of tasks already traced still end when those
 * tasks finish; then nothing of tracing is left on the task path. Idempotent.
 *
 * @example
 * ```ts
 * disableTracing();
 * ```
 */
export function disableTracing(): void {
  if (active === undefined) return;
  active = undefined;
  removeSpawnObserver(onSpawn);
  if (open === 0) removeFinishObserver(onFinish);
}

/**
 * taskSpan returns the span of a traced task, given the task or a context of it (the `ctx` a
 * task's function receives, or one derived from it), or undefined when that task is not traced.
 *
 * @example
 * ```ts
 * group.go(async (ctx) => {
 *   const span = taskSpan(ctx);
 *   const parent = span === undefined ? context.active() : trace.setSpan(context.active(), span);
 *   await context.with(parent, () => fetch(url, { signal: ctx.signal }));
 * });
 * ```
 */
export function taskSpan(of: Task<any> | Context): Span | undefined {
  const task = (typeof (of as Context).throwIfDone === 'function' ? (of as Context).value(TASK_KEY) : of) as Entry | undefined;
  return task === undefined ? undefined : spans.get(task);
}
