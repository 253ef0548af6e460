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

/** The live settings. @internal */
export const config: Required<CorralConfig> = {
  spawnSites: defaultLevel(),
  sampleEvery: 64,
  stackDepth: 8,
};

const KEYS = new Set(['spawnSites', 'sampleEvery', 'stackDepth']);

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
  const { spawnSites, sampleEvery, stackDepth } = options;
  if (spawnSites !== undefined && !LEVELS.includes(spawnSites)) {
    throw new RangeError(`configure: spawnSites must be one of ${LEVELS.join(', ')} (got ${JSON.stringify(spawnSites)})`);
  }
  if (sampleEvery !== undefined && (!Number.isInteger(sampleEvery) || sampleEvery < 1)) {
    throw new RangeError(`configure: sampleEvery must be an integer >= 1 (got ${String(sampleEvery)})`);
  }
  if (stackDepth !== undefined && (!Number.isInteger(stackDepth) || stackDepth < 1 || stackDepth > 100)) {
    throw new RangeError(`configure: stackDepth must be an integer from 1 to 100 (got ${String(stackDepth)})`);
  }
  if (spawnSites !== undefined) config.spawnSites = spawnSites;
  if (sampleEvery !== undefined) config.sampleEvery = sampleEvery;
  if (stackDepth !== undefined) config.stackDepth = stackDepth;
  return { ...config };
}
