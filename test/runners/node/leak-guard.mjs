// The leak guard for every test of every file, preloaded with `node --import ./leak-guard.mjs --test`:
// node:test applies hooks registered at the top level of a preloaded module to each test. The
// check runs from t.after(), which node:test calls after every afterEach hook, the file's own
// cleanup included.
import { beforeEach } from 'node:test';
import { leakGuard } from 'corral/testing';

const guard = leakGuard();
beforeEach((t) => {
  guard.before(t);
  t.after(() => guard.after(t));
});
