// The leak guard for every test of the project: Vitest hands each hook the test's context, which
// pairs before() with its after() even when tests run concurrently.
import { afterEach, beforeEach } from 'vitest';
import { leakGuard } from 'corral/testing';

const guard = leakGuard();
beforeEach((ctx) => guard.before(ctx));
afterEach((ctx) => guard.after(ctx));
