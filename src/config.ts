/**
 * Process-wide settings of the registry. Defaults are stated once, here.
 * @module
 */

/** How spawn sites are captured: never, one spawn in `sampleEvery`, or every spawn. */
export type SpawnSiteLevel = 'off' | 'sampled' | 'always';

/** Options for {@link configure}. */
export interface CorralConfig {
  /**
   * Spawn-site capture. Default: the `CORRAL_SPAWN_SITES` environment variable if set, else
   * 'always' when `NODE_ENV=test`, else 'sampled'. A capture costs ~1.5–2.5 µs (more when the
   * dump formats it); 'off' costs nothing.
   */
  spawnSites?: SpawnSiteLevel;
  /** With 'sampled', capture one spawn in this many. Default 64. */
  sampleEvery?: number;
  /** Frames kept per spawn site. Default 8. */
  stackDepth?: number;
  /**
   * Detect tasks that can never finish (src/unreachable.ts): a task whose pending promise V8
   * collected is marked 'leaked (unreachable)'. Costs ~0.3 µs per spawned async task, ~0.6 µs
   * for one still running when its spawn turn ends (see docs/testing.md). Default: the
   * `CORRAL_DETECT_UNREACHABLE` environment variable if set ('1'/'true' or '0'/'false'), else
   * true when `NODE_ENV=test`, else false. Only tasks spawned while it is on are watched.
   */
  detectUnreachable?: boolean;
}

const LEVELS: readonly SpawnSiteLevel[] = ['off', 'sampled', 'always'];

function defaultLevel(): SpawnSiteLevel {
  const env = process.env.CORRAL_SPAWN_SITES;
  if (env !== undefined && env !== '') {
    if ((LEVELS as readonly string[]).includes(env)) return env as SpawnSiteLevel;
    // A typo in an environment variable must not silently turn diagnostics off.
    process.emitWarning(
      `CORRAL_SPAWN_SITES=${JSON.stringify(env)} is not one of ${LEVELS.join(', ')}; using the default`,
      { code: 'CORRAL_BAD_ENV' },
    );
  }
  return process.env.NODE_ENV === 'test' ? 'always' : 'sampled';
}

function defaultDetect(): boolean {
  const env = process.env.CORRAL_DETECT_UNREACHABLE;
  if (env !== undefined && env !== '') {
    if (env === '1' || env === 'true') return true;
    if (env === '0' || env === 'false') return false;
    process.emitWarning(
      `CORRAL_DETECT_UNREACHABLE=${JSON.stringify(env)} is not one of 1, true, 0, false; using the default`,
      { code: 'CORRAL_BAD_ENV' },
    );
  }
  return process.env.NODE_ENV === 'test';
}

/** The live settings. @internal */
export const config: Required<CorralConfig> = {
  spawnSites: defaultLevel(),
  sampleEvery: 64,
  stackDepth: 8,
  detectUnreachable: defaultDetect(),
};

const KEYS = new Set(['spawnSites', 'sampleEvery', 'stackDepth', 'detectUnreachable']);

/**
 * configure changes the registry's settings for the whole process and returns the settings now
 * in force. Unknown options throw TypeError; bad values throw RangeError naming the option.
 *
 * @example
 * ```ts
 * configure({ spawnSites: 'always' }); // every task records where it was spawned
 * ```
 */
export function configure(options: CorralConfig = {}): Readonly<Required<CorralConfig>> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`configure: options must be an object (got ${String(options)})`);
  }
  for (const k of Object.keys(options)) {
    if (!KEYS.has(k)) throw new TypeError(`configure: unknown option ${JSON.stringify(k)}`);
  }
  const { spawnSites, sampleEvery, stackDepth, detectUnreachable } = options;
  if (spawnSites !== undefined && !LEVELS.includes(spawnSites)) {
    throw new RangeError(`configure: spawnSites must be one of ${LEVELS.join(', ')} (got ${JSON.stringify(spawnSites)})`);
  }
  if (sampleEvery !== undefined && (!Number.isInteger(sampleEvery) || sampleEvery < 1)) {
    throw new RangeError(`configure: sampleEvery must be an integer >= 1 (got ${String(sampleEvery)})`);
  }
  if (stackDepth !== undefined && (!Number.isInteger(stackDepth) || stackDepth < 1 || stackDepth > 100)) {
    throw new RangeError(`configure: stackDepth must be an integer from 1 to 100 (got ${String(stackDepth)})`);
  }
  if (detectUnreachable !== undefined && typeof detectUnreachable !== 'boolean') {
    throw new TypeError(`configure: detectUnreachable must be a boolean (got ${typeof detectUnreachable})`);
  }
  if (spawnSites !== undefined) config.spawnSites = spawnSites;
  if (sampleEvery !== undefined) config.sampleEvery = sampleEvery;
  if (stackDepth !== undefined) config.stackDepth = stackDepth;
  if (detectUnreachable !== undefined) config.detectUnreachable = detectUnreachable;
  return { ...config };
}
