/**
 * The Watchdog's census of live tasks: one pass over the registry's live list per sample, counting
 * per task name, and per spawn site only for the names that look wrong.
 *
 * Why two levels: a spawn site is known by its stack string, and the first read of a captured
 * stack makes V8 format it (~4 µs, plus the string). A busy service turns its short tasks over
 * between samples, so keying every live task by its site would format nearly every stack at
 * every sample. Counting by name costs a Map lookup on a string V8 already holds; a name is
 * broken down by site only while it is "of interest" (too many live, growing, or stuck tasks), and
 * then only its tasks that outlived an interval or are stuck, which stay live and are formatted
 * once. Per-site counts bounded by the name's count make this exact for the live and stuck rules.
 *
 * Growth is measured on retained tasks: those already live at the previous sample (spawned before
 * it). A leak retains every task it spawns, so its retained count grows by what it spawned in the
 * previous interval; short tasks are never retained however many run, so a busy service or a
 * ramp-up of short requests shows no growth. The step between samples i-1 and i is the change in
 * retained tasks over the interval (i-2, i-1) in which the new ones were spawned, on the samples'
 * own timestamps, so late timers and samples taken by hand give true rates.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - Growth of the live count: a busy service's count at any instant is noise around its mean, and
 *   with samples close together (a load test, an aggressive interval) noise reads as thousands of
 *   tasks per second; a ramp-up of traffic also reads as a leak.
 * - The age of tasks alone (live tasks older than an interval): a site whose tasks last a few
 *   intervals has a steady crowd of them that never grows.
 * @module
 */
import { forEachEntry, formatSite, type Entry } from '../registry.js';
import type { AlertSite } from './watchdog-options.js';

/**
 * Counts for one spawn site of a name of interest; reset lazily at the first touch of a sample.
 * A site is the first frame of the user's code on the spawn stack (the line that spawned): the
 * frames below it differ with the caller, and even one caller's stack differs between a call made
 * synchronously at startup and the same call after an await.
 */
interface Site {
  /** The formatted spawn site of the first task seen there, undefined when not captured. */
  readonly site: string | undefined;
  /** Its first line: what identifies the site. */
  readonly frame: string | undefined;
  gen: number;
  live: number;
  retained: number;
  prevRetained: number;
  /** Bootstrap only: live tasks spawned before sample i-2, the floor of what was retained at i-1. */
  before: number;
  /** Created by the bootstrap pass: `prevRetained` comes from `before`. */
  fresh: boolean;
  stuck: number;
  oldestSince: number;
  streak: number;
  /** Tasks per second, last step. */
  growth: number;
}

/** Counts for one task name. */
interface Name {
  readonly name: string;
  readonly ignored: boolean;
  gen: number;
  live: number;
  retained: number;
  prevRetained: number;
  stuck: number;
  growing: boolean;
  /** Tasks per second, last step. */
  growth: number;
  /** Samples left before the name stops being broken down by site; 0: not of interest. */
  interest: number;
  /** Its live tasks exceed the per-site threshold: every one of them is counted by site. */
  liveInterest: boolean;
  /** Whether this sample's main pass counted its sites (and its young tasks). */
  counted: 0 | 1 | 2;
  /** Sites by first frame. */
  sites: Map<string, Site> | undefined;
  /** The same sites by raw stack string: the per-task lookup, which formats nothing. */
  byStack: Map<string, Site> | undefined;
  noSite: Site | undefined;
}

/** How a dump filter recognises an alert site's tasks. @internal */
export interface SiteMatch {
  name: string;
  /** The first frame of the site (undefined: not captured); `null`: any site (a name-level entry). */
  frame: string | undefined | null;
}

/** An AlertSite with its dump filter key. @internal */
export interface FoundSite extends AlertSite {
  match: SiteMatch;
}

/** What the task rules found in one sample. @internal */
export interface CensusResult {
  tasks: number;
  /** Live tasks already live at the previous sample. */
  retained: number;
  /** Growth of retained tasks per second over the last step; undefined until the third sample. */
  growthPerSec: number | undefined;
  /** Total growth streak, in steps. */
  growthStreak: number;
  /** Sites over `liveTasks.perSite`, worst first (all of them). */
  liveSites: FoundSite[];
  /** Sites whose growth streak reached `growth.samples`, worst first. */
  growingSites: FoundSite[];
  /** Sites with at least `stuck.count` stuck tasks, worst first. */
  stuckSites: FoundSite[];
  /** Names counted, and sites tracked, for status(). */
  names: number;
  sites: number;
}

/** The census's settings, from the resolved options. @internal */
export interface CensusConfig {
  perSite: number | undefined;
  growthPerSite: number | undefined;
  growthTotal: number | undefined;
  growthSamples: number;
  stuckAfter: number | undefined;
  stuckCount: number;
  grace: number;
  ignore: ((name: string) => boolean) | undefined;
}

function firstLine(site: string | undefined): string | undefined {
  if (site === undefined) return undefined;
  const nl = site.indexOf('\n');
  return nl === -1 ? site : site.slice(0, nl);
}

function newSite(site: string | undefined): Site {
  return {
    site,
    frame: firstLine(site),
    gen: 0,
    live: 0,
    retained: 0,
    prevRetained: 0,
    before: 0,
    fresh: false,
    stuck: 0,
    oldestSince: Infinity,
    streak: 0,
    growth: 0,
  };
}

/** @internal */
export class Census {
  private readonly _c: CensusConfig;
  private readonly _names = new Map<string, Name>();
  /** Sample generation: bumped per sample, stamps what a sample touched. */
  private _gen = 0;
  /** Registry timestamps of the last two samples (t[i-1], t[i-2]) before the current one. */
  private _t1: number | undefined;
  private _t2: number | undefined;
  private _retained = 0;
  private _prevRetained = 0;
  private _streak = 0;
  /** Registry time of the last sample. */
  private _at = 0;
  // The pass's inputs and outputs live on the instance, so the visitors are made once and a sample
  // allocates nothing per task.
  private _tasks = 0;
  private _retainedBefore = -Infinity;
  private _bootBefore = -Infinity;
  private _stuckBefore = -Infinity;
  /** The bucket of the last task counted, valid within one pass (buckets are deleted between passes). */
  private _lastName: string | undefined = undefined;
  private _last: Name | undefined = undefined;
  private readonly _visit: (e: Entry) => void;
  private readonly _visitAgain: (e: Entry) => void;

  constructor(c: CensusConfig, at: number) {
    this._c = c;
    this._t1 = at;
    this._visit = (e) => this._count(e);
    this._visitAgain = (e) => this._recount(e);
  }

  /** Takes one census at registry time `at`. */
  sample(at: number): CensusResult {
    const c = this._c;
    const gen = ++this._gen;
    this._at = at;
    const t1 = this._t1;
    const t2 = this._t2;
    // Retained: spawned strictly before the previous sample. Tasks spawned in the same clock tick
    // as it are left for the next step (the registry's clock is coarse).
    this._retainedBefore = t1 ?? -Infinity;
    this._bootBefore = t2 ?? -Infinity;
    this._stuckBefore = c.stuckAfter === undefined ? -Infinity : at - c.stuckAfter;
    this._tasks = 0;
    this._retained = 0;
    this._lastName = this._last = undefined;
    forEachEntry(this._visit);
    this._lastName = this._last = undefined;

    // The step covers [t2, t1), the interval in which the newly retained tasks were spawned.
    const windowSec = t1 !== undefined && t2 !== undefined ? Math.max(1, t1 - t2) / 1000 : undefined;
    let growthPerSec: number | undefined;
    if (windowSec !== undefined) {
      const d = this._retained - this._prevRetained;
      growthPerSec = d / windowSec;
      this._streak = c.growthTotal !== undefined && d >= Math.max(1, c.growthTotal * windowSec) ? this._streak + 1 : 0;
    }
    this._prevRetained = this._retained;

    // Which names to break down by site. A name newly of interest gets a second pass now rather
    // than at the next sample, so a leak is named in the sample that sees it.
    let again = false;
    for (const [key, n] of this._names) {
      if (n.gen !== gen) {
        this._names.delete(key);
        continue;
      }
      if (n.ignored) continue;
      n.growing =
        windowSec !== undefined && c.growthPerSite !== undefined && n.retained - n.prevRetained >= Math.max(1, c.growthPerSite * windowSec);
      const liveWanted = c.perSite !== undefined && n.live > c.perSite;
      const wanted = liveWanted || n.growing || (c.stuckAfter !== undefined && n.stuck >= c.stuckCount);
      if (wanted) {
        if (n.interest === 0) {
          n.counted = 0;
          n.sites = n.byStack = n.noSite = undefined;
        }
        n.interest = c.grace;
        n.liveInterest = liveWanted;
        // 0: sites not counted this sample; 1: counted without the young tasks a live count needs.
        if (n.counted === 0 || (liveWanted && n.counted === 1)) again = true;
      } else if (n.interest > 0 && --n.interest === 0) {
        n.sites = n.byStack = n.noSite = undefined;
        n.liveInterest = false;
      }
    }
    if (again) forEachEntry(this._visitAgain);
    for (const n of this._names.values()) if (n.interest > 0) n.counted = n.liveInterest ? 2 : 1;

    const liveSites: FoundSite[] = [];
    const growingSites: FoundSite[] = [];
    const stuckSites: FoundSite[] = [];
    let sites = 0;
    for (const n of this._names.values()) {
      if (n.interest === 0) continue;
      const visit = (s: Site): boolean => {
        if (s.gen !== gen) return false;
        sites++;
        if (s.fresh) s.prevRetained = s.before;
        if (windowSec !== undefined) {
          const d = s.retained - s.prevRetained;
          s.growth = d / windowSec;
          s.streak = c.growthPerSite !== undefined && d >= Math.max(1, c.growthPerSite * windowSec) ? s.streak + 1 : 0;
        }
        const found = (count: number): FoundSite => this._found(n, s, count);
        if (n.liveInterest && n.counted === 2 && c.perSite !== undefined && s.live > c.perSite) liveSites.push(found(s.live));
        if (s.streak >= c.growthSamples) growingSites.push(found(s.retained));
        if (c.stuckAfter !== undefined && s.stuck >= c.stuckCount) stuckSites.push(found(s.stuck));
        return true;
      };
      if (n.sites !== undefined) {
        for (const [key, s] of n.sites) if (!visit(s)) n.sites.delete(key);
        for (const [key, s] of n.byStack as Map<string, Site>) if (s.gen !== gen) n.byStack?.delete(key);
      }
      if (n.noSite !== undefined && !visit(n.noSite)) n.noSite = undefined;
    }
    liveSites.sort((a, b) => b.count - a.count);
    growingSites.sort((a, b) => b.growthPerSec - a.growthPerSec || b.count - a.count);
    stuckSites.sort((a, b) => b.count - a.count || b.oldestMs - a.oldestMs);
    for (const n of this._names.values()) {
      n.growth = windowSec === undefined ? 0 : (n.retained - n.prevRetained) / windowSec;
      n.prevRetained = n.retained;
    }
    this._t2 = t1;
    this._t1 = at;
    return {
      tasks: this._tasks,
      retained: this._retained,
      growthPerSec: growthPerSec === undefined ? undefined : round(growthPerSec),
      growthStreak: this._streak,
      liveSites,
      growingSites,
      stuckSites,
      names: this._names.size,
      sites,
    };
  }

  /**
   * The `k` names with the most live tasks at the last sample (any site), for the total alert;
   * the ones the census tracks no site for are named by name alone.
   */
  mostLive(k: number): FoundSite[] {
    const names = [...this._names.values()].filter((n) => n.gen === this._gen && !n.ignored);
    names.sort((a, b) => b.live - a.live);
    return names.slice(0, k).map((n) => this._nameSite(n, n.live));
  }

  /** The `k` spawn sites (else names) whose retained tasks grew fastest in the last step. */
  fastestGrowing(k: number): FoundSite[] {
    const sites: FoundSite[] = [];
    for (const n of this._names.values()) {
      if (n.gen !== this._gen || n.interest === 0) continue;
      const add = (s: Site): void => {
        if (s.gen === this._gen && s.growth > 0) sites.push(this._found(n, s, s.retained));
      };
      n.sites?.forEach(add);
      if (n.noSite !== undefined) add(n.noSite);
    }
    if (sites.length === 0) {
      for (const n of this._names.values()) {
        if (n.gen === this._gen && !n.ignored && n.growth > 0) sites.push(this._nameSite(n, n.retained));
      }
    }
    sites.sort((a, b) => b.growthPerSec - a.growthPerSec);
    return sites.slice(0, k);
  }

  private _nameSite(n: Name, count: number): FoundSite {
    return { site: undefined, name: n.name, count, growthPerSec: round(n.growth), oldestMs: 0, match: { name: n.name, frame: null } };
  }

  private _found(n: Name, s: Site, count: number): FoundSite {
    return {
      site: s.site,
      name: n.name,
      count,
      growthPerSec: round(s.growth),
      oldestMs: s.oldestSince === Infinity ? 0 : Math.max(0, this._at - s.oldestSince),
      match: { name: n.name, frame: s.frame },
    };
  }

  /** The main pass: every live task. */
  private _count(e: Entry): void {
    if (e.kind !== 'task') return;
    this._tasks++;
    const gen = this._gen;
    // Neighbours in the live list often share a name (a burst from one site): skip the lookup.
    const name = e._name;
    let n = name === this._lastName ? this._last : this._names.get(name);
    if (n === undefined) {
      const ignore = this._c.ignore;
      n = {
        name: e._name,
        ignored: ignore !== undefined && ignore(e._name),
        gen: 0,
        live: 0,
        retained: 0,
        prevRetained: 0,
        stuck: 0,
        growing: false,
        growth: 0,
        interest: 0,
        liveInterest: false,
        counted: 0,
        sites: undefined,
        byStack: undefined,
        noSite: undefined,
      };
      this._names.set(e._name, n);
    }
    this._lastName = name;
    this._last = n;
    if (n.gen !== gen) {
      // Buckets not touched by the previous sample were deleted, so `retained` is that sample's.
      n.gen = gen;
      n.live = n.retained = n.stuck = 0;
      n.counted = n.interest === 0 ? 0 : n.liveInterest ? 2 : 1;
    }
    n.live++;
    const old = e._startedAt < this._retainedBefore;
    if (old) {
      this._retained++;
      n.retained++;
    }
    if (n.ignored) return;
    const stuck = e._since < this._stuckBefore;
    if (stuck) n.stuck++;
    if (n.counted !== 0 && (old || stuck || n.counted === 2)) this._site(n, e, old, stuck, false);
  }

  /** The second pass: only the names that became of interest (or need a live count) in this sample. */
  private _recount(e: Entry): void {
    if (e.kind !== 'task') return;
    const n = this._names.get(e._name);
    if (n === undefined || n.interest === 0 || n.gen !== this._gen) return;
    const old = e._startedAt < this._retainedBefore;
    const stuck = e._since < this._stuckBefore;
    if (n.counted === 0) {
      if (old || stuck || n.liveInterest) this._site(n, e, old, stuck, true);
    } else if (n.counted === 1 && n.liveInterest && !old && !stuck) {
      // Its retained and stuck tasks were counted (live included) in the main pass.
      this._siteOf(n, e, false).live++;
    }
  }

  private _site(n: Name, e: Entry, old: boolean, stuck: boolean, boot: boolean): void {
    const s = this._siteOf(n, e, boot);
    s.live++;
    if (old) s.retained++;
    if (stuck) s.stuck++;
    if (boot && e._startedAt < this._bootBefore) s.before++;
    if ((old || stuck) && e._since < s.oldestSince) s.oldestSince = e._since;
  }

  private _siteOf(n: Name, e: Entry, boot: boolean): Site {
    const holder = e._site;
    const stack = holder === undefined ? undefined : holder.stack;
    let s: Site | undefined;
    if (stack === undefined) s = n.noSite ??= newSite(undefined);
    else {
      const byStack = (n.byStack ??= new Map());
      s = byStack.get(stack);
      if (s === undefined) {
        // Once per distinct stack: format it, and find or make the site of its first frame.
        const site = formatSite(e);
        const frame = firstLine(site) ?? '';
        const sites = (n.sites ??= new Map());
        s = sites.get(frame);
        if (s === undefined) {
          s = newSite(site);
          sites.set(frame, s);
        }
        byStack.set(stack, s);
      }
    }
    if (s.gen !== this._gen) {
      s.prevRetained = s.gen === this._gen - 1 ? s.retained : 0;
      s.gen = this._gen;
      s.live = s.retained = s.stuck = s.before = 0;
      s.oldestSince = Infinity;
      s.fresh = boot;
    }
    return s;
  }
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
