/**
 * The contract of corral's errors (src/errors.ts): named classes with a stable `code`, and the
 * predicates that recognise cancellations and timeouts, ours and the platform's.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  background,
  CanceledError,
  DeadlineExceededError,
  GroupClosedError,
  InvalidStateError,
  StopTimeoutError,
  isCancellation,
  isTimeout,
  withCancel,
  withTimeout,
} from '../src/index.js';

describe('CanceledError and DeadlineExceededError', () => {
  test('CanceledError is an Error with a stable name, code and message', () => {
    const e = new CanceledError();
    assert.ok(e instanceof Error, "e instanceof Error");
    assert.equal(e.name, 'CanceledError');
    assert.equal(e.code, 'ERR_CORRAL_CANCELED');
    assert.equal(e.message, 'context canceled');
    assert.equal(Object.hasOwn(e, 'cause'), false, 'no cause unless given');
    assert.ok(e.stack?.includes('CanceledError'), "e.stack?.includes('CanceledError')");
  });

  test('DeadlineExceededError is an Error with a stable name and code, and says it is a timeout', () => {
    const e = new DeadlineExceededError();
    assert.ok(e instanceof Error, "e instanceof Error");
    assert.ok(!(e instanceof CanceledError), 'a distinct class');
    assert.equal(e.name, 'DeadlineExceededError');
    assert.equal(e.code, 'ERR_CORRAL_DEADLINE_EXCEEDED');
    assert.equal(e.message, 'context deadline exceeded');
    assert.equal(e.timeout, true);
    assert.equal(isTimeout(e), true);
  });

  test('both keep the cause they are given, falsy ones included, and take a custom message', () => {
    const cause = new Error('patient withdrew');
    assert.equal(new CanceledError(cause).cause, cause);
    assert.equal(new DeadlineExceededError(cause).cause, cause);
    assert.equal(new CanceledError(0).cause, 0);
    assert.equal(new CanceledError(null).cause, null);
    assert.equal(new CanceledError(undefined, 'job stopped').message, 'job stopped');
    assert.equal(new DeadlineExceededError(undefined, 'too slow').message, 'too slow');
  });

  test('a context’s err is an instance of the exported classes, with the cause given to cancel', async () => {
    const { ctx, cancel } = withCancel(background());
    const cause = new Error('shutdown');
    cancel(cause);
    assert.ok(ctx.err instanceof CanceledError, "ctx.err instanceof CanceledError");
    assert.equal(ctx.err.code, 'ERR_CORRAL_CANCELED');
    assert.equal(ctx.err.cause, cause);

    const timed = withTimeout(background(), 1);
    const keep = setTimeout(() => {}, 10_000); // deadline timers are unref'd
    await timed.ctx.done;
    clearTimeout(keep);
    assert.ok(timed.ctx.err instanceof DeadlineExceededError, "timed.ctx.err instanceof DeadlineExceededError");
    assert.equal(timed.ctx.err.code, 'ERR_CORRAL_DEADLINE_EXCEEDED');
  });
});

describe('isCancellation', () => {
  test('is true for our cancellation errors and for the platform’s AbortError and TimeoutError', async () => {
    assert.equal(isCancellation(new CanceledError()), true);
    assert.equal(isCancellation(new DeadlineExceededError()), true);
    assert.equal(isCancellation(new DOMException('stop', 'AbortError')), true);
    assert.equal(isCancellation(new DOMException('late', 'TimeoutError')), true);
    assert.equal(isCancellation(AbortSignal.abort().reason), true);
    // What an API taking a signal rejects with.
    const rejected = await sleep(10_000, undefined, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    assert.equal(isCancellation(rejected), true);
  });

  test('recognises our errors by code, across duplicated installs of the package', () => {
    assert.equal(isCancellation({ code: 'ERR_CORRAL_CANCELED' }), true);
    assert.equal(isCancellation({ code: 'ERR_CORRAL_DEADLINE_EXCEEDED' }), true);
  });

  test('is false for every other value', () => {
    for (const v of [
      new Error('boom'),
      new TypeError('bad'),
      new GroupClosedError('closed'),
      new InvalidStateError('state'),
      new DOMException('x', 'NotFoundError'),
      { name: 'Error' },
      'AbortError',
      0,
      null,
      undefined,
    ]) {
      assert.equal(isCancellation(v), false, String(v));
    }
  });
});

describe('isTimeout', () => {
  test('is true for DeadlineExceededError and the platform’s TimeoutError', () => {
    assert.equal(isTimeout(new DeadlineExceededError()), true);
    assert.equal(isTimeout(new DOMException('late', 'TimeoutError')), true);
    assert.equal(isTimeout({ code: 'ERR_CORRAL_DEADLINE_EXCEEDED' }), true);
  });

  test('is false for a plain cancellation and for every other value', () => {
    for (const v of [
      new CanceledError(),
      new DOMException('stop', 'AbortError'),
      new Error('timeout'),
      { code: 'ETIMEDOUT' },
      null,
      undefined,
    ]) {
      assert.equal(isTimeout(v), false, String(v));
    }
  });
});

describe('the other named errors', () => {
  test('carry a stable name and code', () => {
    const closed = new GroupClosedError('group "x" is closed');
    assert.equal(closed.name, 'GroupClosedError');
    assert.equal(closed.code, 'ERR_CORRAL_GROUP_CLOSED');
    assert.equal(closed.message, 'group "x" is closed');
    const state = new InvalidStateError('below zero');
    assert.equal(state.name, 'InvalidStateError');
    assert.equal(state.code, 'ERR_CORRAL_INVALID_STATE');
    for (const e of [closed, state]) assert.ok(e instanceof Error, "e instanceof Error");
  });

  test('StopTimeoutError names the tasks that did not stop', () => {
    const tasks = [{ id: 7, name: 'his-sync', state: 'waiting: sleep', stateAge: 5_000, spawnSite: undefined }];
    const e = new StopTimeoutError('1 task did not stop', tasks);
    assert.ok(e instanceof Error, "e instanceof Error");
    assert.equal(e.name, 'StopTimeoutError');
    assert.equal(e.code, 'ERR_CORRAL_STOP_TIMEOUT');
    assert.deepEqual(e.tasks, tasks);
  });
});
