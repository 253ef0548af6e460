/**
 * Shared use of the registry's observer slots. The registry has one `spawn` and one `finish`
 * slot, read on every task's spawn and end; metrics (the duration histogram) and tracing
 * (`corral/otel`) both want them, so neither may simply overwrite the slot. Each consumer adds
 * itself here: with one consumer the slot holds that consumer's function itself (no indirection
 * on the hot path), with more it holds a fan-out over a frozen list. Other code should come
 * through here too rather than write a slot: an observer written directly is kept (see install),
 * but one that wraps ours keeps calling it after we removed it.
 * @module
 */
import { observers, type Entry } from '../registry.js';

/** What the registry's finish slot is called with. @internal */
export type Outcome = 'succeeded' | 'failed' | 'canceled';
/** @internal */
export type FinishObserver = (task: Entry, outcome: Outcome) => void;
/** @internal */
export type SpawnObserver = (task: Entry) => void;

// Ours, replaced and never mutated: a fan-out running while a consumer removes itself keeps its list.
let finishers: readonly FinishObserver[] = [];
let spawners: readonly SpawnObserver[] = [];
// What install() last put in each slot. Code that writes a slot directly instead of coming through
// here (an older consumer) is found by the slot no longer holding that, and its observer is kept
// as one more consumer, so adding or removing ours never evicts it.
let installedFinish: FinishObserver | undefined;
let installedSpawn: SpawnObserver | undefined;
let foreignFinish: FinishObserver | undefined;
let foreignSpawn: SpawnObserver | undefined;
// What the fan-outs call: ours plus the foreign one.
let finishAll: readonly FinishObserver[] = [];
let spawnAll: readonly SpawnObserver[] = [];

function fanOutFinish(task: Entry, outcome: Outcome): void {
  const list = finishAll;
  for (let i = 0; i < list.length; i++) (list[i] as FinishObserver)(task, outcome);
}

function fanOutSpawn(task: Entry): void {
  const list = spawnAll;
  for (let i = 0; i < list.length; i++) (list[i] as SpawnObserver)(task);
}

function install(): void {
  if (observers.finish !== installedFinish) foreignFinish = observers.finish;
  if (observers.spawn !== installedSpawn) foreignSpawn = observers.spawn;
  finishAll = Object.freeze(foreignFinish === undefined ? finishers : [foreignFinish, ...finishers]);
  spawnAll = Object.freeze(foreignSpawn === undefined ? spawners : [foreignSpawn, ...spawners]);
  // One consumer goes in the slot itself: no indirection on the hot path.
  observers.finish = installedFinish = finishAll.length === 0 ? undefined : finishAll.length === 1 ? finishAll[0] : fanOutFinish;
  observers.spawn = installedSpawn = spawnAll.length === 0 ? undefined : spawnAll.length === 1 ? spawnAll[0] : fanOutSpawn;
}

/** Adds a finish observer (once: adding it again does nothing). @internal */
export function addFinishObserver(fn: FinishObserver): void {
  if (finishers.includes(fn)) return;
  finishers = Object.freeze([...finishers, fn]);
  install();
}

/** Removes a finish observer added by {@link addFinishObserver}. @internal */
export function removeFinishObserver(fn: FinishObserver): void {
  if (!finishers.includes(fn)) return;
  finishers = Object.freeze(finishers.filter((f) => f !== fn));
  install();
}

/** Adds a spawn observer (once: adding it again does nothing). @internal */
export function addSpawnObserver(fn: SpawnObserver): void {
  if (spawners.includes(fn)) return;
  spawners = Object.freeze([...spawners, fn]);
  install();
}

/** Removes a spawn observer added by {@link addSpawnObserver}. @internal */
export function removeSpawnObserver(fn: SpawnObserver): void {
  if (!spawners.includes(fn)) return;
  spawners = Object.freeze(spawners.filter((f) => f !== fn));
  install();
}
