// The leak guard for every test of the project. Jest runs a file's tests one at a time, so the
// hooks need no key to pair before() with after().
import { afterEach, beforeEach } from '@jest/globals';
import { leakGuard } from 'corral/testing';

const guard = leakGuard();
beforeEach(() => guard.before());
afterEach(() => guard.after());
