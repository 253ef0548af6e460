/**
 * Dependency ordering. The app keeps its units in one list that is always a valid start order:
 * a unit comes after everything it depends on. Each `add()` checks its batch against the units
 * already added and appends the batch in dependency order, so ordering errors surface at `add`
 * time, where the stack points at the mistake, not at `start()` in some other module.
 *
 * Rejected design: validating names lazily at `start()` (allowing forward references across
 * `add()` calls). It lets a typo live until deploy time; dependencies are instead added first,
 * or together in one `add(a, b, c)` call, where forward references and cycles are checked as a
 * whole.
 * @module
 */
import { DependencyError } from './errors.js';
import type { Unit } from './service.js';

/**
 * Returns `batch` in dependency order, ready to append to `added` (the units already in the app,
 * by name). Throws DependencyError for a duplicate name, an unknown dependency, or a cycle.
 * @internal
 */
export function orderBatch(added: ReadonlyMap<string, Unit>, batch: readonly Unit[]): Unit[] {
  const inBatch = new Map<string, Unit>();
  for (const u of batch) {
    if (added.has(u.name) || inBatch.has(u.name)) {
      throw new DependencyError('duplicate', `App: the name "${u.name}" is already used by another service or resource`);
    }
    inBatch.set(u.name, u);
  }
  for (const u of batch) {
    for (const d of u.dependsOn) {
      if (!added.has(d) && !inBatch.has(d)) {
        throw new DependencyError(
          'unknown',
          `App: "${u.name}" depends on "${d}", which was not added: add "${d}" before "${u.name}" ` +
            '(dependencies are added first, or in the same add() call)',
        );
      }
    }
  }
  // Depth-first, in the batch's own order, so units with no constraint between them keep the
  // order they were given in (start and stop orders are predictable from the code).
  const order: Unit[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (u: Unit): void => {
    const s = state.get(u.name);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...path.slice(path.indexOf(u.name)), u.name];
      throw new DependencyError('cycle', `App: dependency cycle: ${cycle.join(' -> ')}`, cycle);
    }
    state.set(u.name, 'visiting');
    path.push(u.name);
    for (const d of u.dependsOn) {
      const dep = inBatch.get(d);
      if (dep !== undefined) visit(dep); // one already added is earlier in the list by construction
    }
    path.pop();
    state.set(u.name, 'done');
    order.push(u);
  };
  for (const u of batch) visit(u);
  return order;
}
