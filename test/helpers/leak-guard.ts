/**
 * corral's own test suite runs with the leak guard on: `npm run test:unit` preloads this file
 * (`--import ./test/helpers/leak-guard.ts`). Hooks registered at the top level of a preloaded
 * module apply to every test of every file in node:test (each file runs in its own process, with
 * the preload), so no test file needs an edit. A test fails when a task, handle or abort listener
 * it started is still there once it has had time to settle.
 *
 * The check is registered per test with `t.after()` from a beforeEach: node:test runs those after
 * every afterEach hook, the test file's own cleanup included (a file's afterEach that shuts its
 * pools down), where a preloaded afterEach would run before them.
 *
 * What is ignored, and why, is listed below; each entry names the tests that need it.
 */
import { beforeEach, type TestContext } from 'node:test';
import { leakGuard } from '../../src/testing/index.js';

const guard = leakGuard({
  ignore: {
    // registry.test.ts "a task keeps no strong reference to its pending promise, so an unreachable
    // one can be collected" leaves this task on purpose: it can never finish, which is the point.
    names: ['stuck-forever'],
  },
});

// beforeEach hooks get the test's TestContext (the types also allow a suite's, which has no after()).
beforeEach((t) => {
  guard.before(t);
  (t as TestContext).after(() => guard.after(t));
});
