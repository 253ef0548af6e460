import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { context, ROOT_CONTEXT, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { background } from '../src/index.js';
import { Group } from '../src/group.js';
import { observers } from '../src/registry.js';
import { disableTracing, enableTracing, taskSpan } from '../src/otel/index.js';
import { disableMetrics, enableMetrics } from '../src/inspect/metrics.js';
import { readDurations } from '../src/inspect/metrics-duration.js';
import type { Context } from '../src/context.js';
import { gate, turn } from './helpers/schedule.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer('corral-test');

afterEach(() => {
  disableTracing();
  disableMetrics();
  exporter.reset();
});

function spanNamed(name: string): ReadableSpan {
  const found = exporter.getFinishedSpans().filter((s) => s.name === name);
  assert.equal(found.length, 1, `one span named ${name}`);
  return found[0]!;
}

describe('task spans', () => {
  test("a task's span is the child of the span of the task that owns its group, three levels deep", async () => {
    enableTracing({ tracer });
    const top = new Group(background(), { name: 'top' });
    await top.go(
      async (ctx) => {
        await using mid = new Group(ctx, { name: 'mid' });
        await mid.go(
          async (ctx2: Context) => {
            await using low = new Group(ctx2, { name: 'low' });
            await low.go(async () => 'leaf', { name: 'c' });
          },
          { name: 'b' },
        );
      },
      { name: 'a' },
    );
    const [a, b, c] = ['a', 'b', 'c'].map(spanNamed) as [ReadableSpan, ReadableSpan, ReadableSpan];
    assert.equal(a.parentSpanContext, undefined, 'the top task starts a trace');
    assert.equal(b.parentSpanContext?.spanId, a.spanContext().spanId);
    assert.equal(c.parentSpanContext?.spanId, b.spanContext().spanId);
    assert.equal(new Set([a, b, c].map((s) => s.spanContext().traceId)).size, 1, 'one trace');
    assert.equal(c.attributes['corral.group.name'], 'low');
    // Spans end when their tasks finish: children first (the SDK exports each span as it ends).
    assert.deepEqual(
      exporter.getFinishedSpans().map((s) => s.name),
      ['c', 'b', 'a'],
    );
  });

  test('a span carries the task name, id and labels through redact, and the outcome at the end', async () => {
    enableTracing({ tracer, redact: (key, value) => (key === 'patient' ? undefined : key === 'site' ? value.toUpperCase() : value) });
    const g = new Group(background());
    const t = g.go(async () => 1, { name: 'score', labels: { form: 'PHQ-9', patient: 'P-123', site: 'eu' } });
    await t;
    const s = spanNamed('score');
    assert.deepEqual(s.attributes, {
      'corral.task.name': 'score',
      'corral.task.id': t.id,
      'corral.group.name': 'group',
      'corral.label.form': 'PHQ-9',
      'corral.label.site': 'EU',
      'corral.task.outcome': 'succeeded',
    });
    assert.equal(s.status.code, SpanStatusCode.UNSET);
    assert.ok(s.ended, 'ended at finish');
  });

  test("a failed task's span has status ERROR with the error's type, never its message", async () => {
    enableTracing({ tracer });
    const g = new Group(background(), { failFast: false });
    g.go(
      async () => {
        throw new RangeError('patient P-123 has no answers');
      },
      { name: 'validate' },
    );
    await g.wait().catch(() => {});
    const s = spanNamed('validate');
    assert.equal(s.attributes['corral.task.outcome'], 'failed');
    assert.equal(s.status.code, SpanStatusCode.ERROR);
    assert.equal(s.status.message, 'RangeError');
    assert.doesNotMatch(JSON.stringify(s.attributes) + JSON.stringify(s.events), /P-123/);
  });

  test('a canceled task ends with outcome canceled and no error status', async () => {
    enableTracing({ tracer });
    const g = new Group(background());
    const t = g.go((ctx) => ctx.done.then(() => ctx.throwIfDone()), { name: 'poll' });
    t.cancel();
    await t.catch(() => {});
    const s = spanNamed('poll');
    assert.equal(s.attributes['corral.task.outcome'], 'canceled');
    assert.equal(s.status.code, SpanStatusCode.UNSET);
  });

  test('a top-level task spawned where a span is active becomes its child', async () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      enableTracing({ tracer });
      const request = tracer.startSpan('GET /answers');
      const g = new Group(background());
      await context.with(trace.setSpan(ROOT_CONTEXT, request), () => g.go(async () => 1, { name: 'lookup' }));
      request.end();
      assert.equal(spanNamed('lookup').parentSpanContext?.spanId, request.spanContext().spanId);
    } finally {
      context.disable();
    }
  });

  test('taskSpan finds a traced task from the task or its context', async () => {
    enableTracing({ tracer });
    const g = new Group(background());
    const h = gate();
    let fromCtx: unknown;
    const t = g.go(
      async (ctx) => {
        fromCtx = taskSpan(ctx);
        await h.promise;
      },
      { name: 'held' },
    );
    assert.ok(taskSpan(t) !== undefined, 'a span while running');
    assert.equal(fromCtx, taskSpan(t), 'the same span from the ctx');
    assert.equal(taskSpan(background()), undefined, 'no task, no span');
    h.open();
    await t;
  });

  test('the global tracer provider is used when no tracer is given', async () => {
    trace.setGlobalTracerProvider(provider);
    try {
      enableTracing();
      await new Group(background()).go(async () => 1, { name: 'global' });
      assert.equal(spanNamed('global').instrumentationScope.name, 'corral');
    } finally {
      trace.disable();
    }
  });
});

describe('sampling', () => {
  test('sampleRate traces an evenly spaced share of top-level tasks', async () => {
    enableTracing({ tracer, sampleRate: 0.25 });
    const g = new Group(background());
    for (let i = 0; i < 100; i++) g.go(async () => i, { name: `t${i}` });
    await g.wait();
    const names = exporter.getFinishedSpans().map((s) => Number(s.name.slice(1))).sort((a, b) => a - b);
    assert.equal(names.length, 25);
    assert.deepEqual(names.slice(0, 3), [3, 7, 11], 'every fourth');
  });

  test('sampleRate 0 traces nothing and 1 traces everything', async () => {
    enableTracing({ tracer, sampleRate: 0 });
    const g = new Group(background());
    for (let i = 0; i < 10; i++) g.go(async () => i);
    await g.wait();
    assert.equal(exporter.getFinishedSpans().length, 0);
    enableTracing({ tracer, sampleRate: 1 });
    for (let i = 0; i < 10; i++) g.go(async () => i);
    await g.wait();
    assert.equal(exporter.getFinishedSpans().length, 10);
  });

  test('every task below a traced task is traced; below an untraced one each decides afresh', async () => {
    const asked: string[] = [];
    enableTracing({
      tracer,
      sampler: (task) => {
        asked.push(task.name);
        return task.name.startsWith('yes');
      },
    });
    const g = new Group(background());
    const spawnChildren = (ctx: Context, names: string[]): Promise<void> => {
      const sub = new Group(ctx);
      for (const n of names) sub.go(async () => n, { name: n });
      return sub.wait();
    };
    await g.go((ctx) => spawnChildren(ctx, ['no-under-yes']), { name: 'yes-top' });
    await g.go((ctx) => spawnChildren(ctx, ['yes-under-no', 'no-under-no']), { name: 'no-top' });
    const names = exporter.getFinishedSpans().map((s) => s.name).sort();
    assert.deepEqual(names, ['no-under-yes', 'yes-top', 'yes-under-no']);
    assert.deepEqual(asked, ['yes-top', 'no-top', 'yes-under-no', 'no-under-no'], 'the sampler is not asked below a traced task');
    assert.equal(spanNamed('no-under-yes').parentSpanContext?.spanId, spanNamed('yes-top').spanContext().spanId);
    assert.equal(spanNamed('yes-under-no').parentSpanContext, undefined, 'a new trace');
  });

  test('a sampler that throws leaves the task untraced and running, with one warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      enableTracing({
        tracer,
        sampler: () => {
          throw new Error('patient P-9');
        },
      });
      const g = new Group(background());
      assert.equal(await g.go(async () => 7), 7);
      assert.equal(await g.go(async () => 8), 8);
      await turn();
      assert.equal(exporter.getFinishedSpans().length, 0);
      const ours = warnings.filter((w) => (w as { code?: string }).code === 'CORRAL_OTEL_ERROR');
      assert.equal(ours.length, 1, 'one warning for two failures');
      assert.doesNotMatch(ours.map((w) => w.message).join(''), /P-9/, 'no error message in the warning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('enable and disable', () => {
  test('disableTracing stops new spans; started spans still end; then the observers are gone', async () => {
    enableTracing({ tracer });
    assert.notEqual(observers.spawn, undefined, 'the spawn slot is in use');
    const g = new Group(background());
    const h = gate();
    const before = g.go(() => h.promise, { name: 'before' });
    disableTracing();
    assert.equal(observers.spawn, undefined, 'no spawn observer once disabled');
    await g.go(async () => 1, { name: 'after' });
    assert.notEqual(observers.finish, undefined, 'kept while a traced task runs');
    h.open();
    await before;
    assert.deepEqual(
      exporter.getFinishedSpans().map((s) => s.name),
      ['before'],
    );
    assert.equal(observers.finish, undefined, 'nothing left on the task path');
  });

  test('tracing and the duration metrics share the finish slot without evicting each other', async () => {
    enableMetrics();
    const metricsObserver = observers.finish;
    enableTracing({ tracer });
    const count = readDurations().count;
    await new Group(background()).go(async () => 1, { name: 'both' });
    assert.equal(readDurations().count, count + 1, 'duration recorded');
    assert.equal(spanNamed('both').ended, true, 'span ended');
    disableTracing();
    assert.equal(observers.finish, metricsObserver, 'metrics alone again, called directly');
    await new Group(background()).go(async () => 1);
    assert.equal(readDurations().count, count + 2);
  });

  test('an observer other code wrote straight into the spawn slot survives enabling and disabling tracing', async () => {
    const seen: number[] = [];
    const theirs = (e: { id: number }): void => {
      seen.push(e.id);
    };
    observers.spawn = theirs;
    try {
      enableTracing({ tracer });
      const t1 = new Group(background()).go(async () => 1, { name: 'shared' });
      await t1;
      assert.deepEqual(seen, [t1.id], 'theirs still called while tracing');
      assert.equal(spanNamed('shared').attributes['corral.task.id'], t1.id);
      disableTracing();
      assert.equal(observers.spawn, theirs, 'theirs alone in the slot again');
    } finally {
      observers.spawn = undefined;
    }
  });

  test('code that wrapped the slot around tracing does not make a task traced twice', async () => {
    enableTracing({ tracer });
    const ours = observers.spawn!;
    let wrapped = 0;
    observers.spawn = (e) => {
      ours(e);
      wrapped++;
    };
    try {
      disableTracing(); // the wrapper stays, still calling tracing's observer
      enableTracing({ tracer }); // now both the wrapper and the fan-out call it
      await new Group(background()).go(async () => 1, { name: 'once' });
      assert.equal(wrapped, 1);
      spanNamed('once');
    } finally {
      disableTracing();
      observers.spawn = undefined;
    }
  });

  test('rejects unknown options, a bad sampleRate, and sampleRate with sampler', () => {
    assert.throws(() => enableTracing({ rate: 1 } as never), { name: 'TypeError', message: /unknown option "rate"/ });
    assert.throws(() => enableTracing({ sampleRate: 2 }), { name: 'RangeError', message: /sampleRate/ });
    assert.throws(() => enableTracing({ sampleRate: Number.NaN }), RangeError);
    assert.throws(() => enableTracing({ sampleRate: 0.5, sampler: () => true }), { name: 'TypeError', message: /not both/ });
    assert.throws(() => enableTracing({ tracer: {} as never }), { name: 'TypeError', message: /tracer/ });
    assert.throws(() => enableTracing({ redact: 'x' as never }), TypeError);
    assert.equal(observers.spawn, undefined, 'a refused call installs nothing');
  });
});
