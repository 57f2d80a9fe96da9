/**
 * Name lookups for callback targets, bounded. `dns.lookup` runs on libuv's thread pool (4 threads unless
 * `UV_THREADPOOL_SIZE` says otherwise), and a lookup the resolver never answers holds its thread until the resolver
 * gives up, tens of seconds later, however soon the attempt that asked for it timed out. Callback hosts are the
 * session creators' names: unbounded, four whose DNS hangs would hold every thread, and the worker's own health checks
 * and reports (`localhost`, `run.vast.ai`) would wait behind them until the worker marked itself broken.
 *
 * So at most `max` lookups run at once (`callbackLookups`: half of what libuv runs at once), and a lookup of a name already being looked up with
 * the same options waits for that one instead of taking another thread. A lookup that waited for a thread longer than
 * `maxWait` is answered with an error instead of being run: its caller (an attempt with a timeout) has given up, and
 * running it would only hold a thread again. Names whose DNS hangs can still delay other callbacks' lookups, by up to
 * the resolver's own time-out; never the worker's health checks or reports.
 *
 * A name whose lookup failed after `SLOW_LOOKUP_MS` or more (the resolver timed out) is not looked up again for
 * `HUNG_NAME_MS`: its lookups fail at once. Otherwise its retries, queued with everyone else's on the same back-off,
 * would take the thread first again, and a callback to a healthy name queued behind it would miss every attempt
 * (probe 15: six attempts lost behind one hung name). The window ends before a delivery's last attempt, which looks
 * the name up again. Many distinct names that hang (one per job, under a zone whose servers are down) each hold the
 * thread once: a name that answered quickly within `QUICK_NAME_MS` waits ahead of them (probe 23).
 */
import type { LookupFunction } from "node:net"

type Done = Parameters<LookupFunction>[2]
type LookupOptions = Parameters<LookupFunction>[1]

export interface LimitedLookup extends LookupFunction {
  /** Lookups running now (for tests). */
  readonly running: () => number
  /** Names waiting for a thread. */
  readonly waiting: () => number
}

/**
 * libuv's thread pool size, as libuv read it (`UV_THREADPOOL_SIZE`, else 4). Node's module loader starts the pool
 * before any of the worker's code runs, so the worker cannot size it, only read what it is.
 */
export const threadPoolSize = (): number => {
  const size = Number(process.env["UV_THREADPOOL_SIZE"])
  return Number.isInteger(size) && size >= 1 && size <= 1024 ? size : 4
}

/**
 * Callback lookups at once for a thread pool of `poolSize`: libuv runs name lookups on at most half of its threads,
 * and callbacks get half of those (at least one); the rest stay for the health checks' and reports' lookups. With
 * Node's 4 threads, 1 of 2; with `UV_THREADPOOL_SIZE=8`, 2 of 4.
 */
export const callbackLookups = (poolSize: number): number => Math.max(1, Math.floor(Math.floor((poolSize + 1) / 2) / 2))

/** How long a lookup may wait for a thread: a callback attempt's time-out, after which nobody waits for its answer. */
export const LOOKUP_MAX_WAIT_MS = 10_000

/** A failed lookup that took this long hung in the resolver (`options timeout:5` and more). */
export const SLOW_LOOKUP_MS = 5_000

/** How long such a name is not looked up again: within a delivery's six attempts (31 s of back-off), not its last. */
export const HUNG_NAME_MS = 30_000

/** Names remembered as hung (or as quick) at most: they are the session creators' names, so their number has no other bound. */
const MAX_HUNG_NAMES = 1_000

/** How long a name that resolved quickly keeps its place ahead of the others in the wait for a thread. */
export const QUICK_NAME_MS = 10 * 60_000

interface Pending {
  readonly hostname: string
  readonly options: LookupOptions
  readonly callers: Array<Done>
  /** When the latest caller joined: the lookup is stale once even that one would have given up. */
  joinedAt: number
}

const keyOf = (hostname: string, options: LookupOptions): string =>
  `${hostname}\u0000${String(options.family ?? 0)}\u0000${String(options.hints ?? 0)}\u0000${options.all === true ? "all" : "one"}`

const errorWith = (code: string, message: string): NodeJS.ErrnoException => Object.assign(new Error(message), { code })

/** `now` is the service's clock (milliseconds). */
export const limitLookups = (lookup: LookupFunction, max: number, now: () => number, maxWait = LOOKUP_MAX_WAIT_MS): LimitedLookup => {
  /** Lookups running or waiting, by name and options. */
  const pending = new Map<string, Pending>()
  /** Keys waiting for a thread, oldest first: those of names that resolved quickly of late first, then the rest. */
  const quickQueue: Array<string> = []
  const queue: Array<string> = []
  let running = 0
  /** Names (with options) whose last lookup hung, and until when they fail at once; oldest first. */
  const hungUntil = new Map<string, number>()
  /**
   * Names (with options) whose last lookup answered quickly, and until when they wait ahead of the others: a name
   * never seen before may hang for a whole resolver time-out, and many distinct such names (one per job) would
   * otherwise hold a name known to answer behind each of them in turn.
   */
  const quickUntil = new Map<string, number>()
  const remember = (names: Map<string, number>, key: string, until: number) => {
    names.delete(key)
    names.set(key, until)
    if (names.size > MAX_HUNG_NAMES) names.delete(names.keys().next().value ?? key)
  }

  const answer = (key: string, ...result: Parameters<Done>) => {
    const entry = pending.get(key)
    pending.delete(key)
    for (const done of entry?.callers ?? []) done(...result)
  }

  const next = () => quickQueue.shift() ?? queue.shift()
  const startNext = () => {
    for (let key = next(); key !== undefined; key = next()) {
      const entry = pending.get(key)
      if (entry === undefined) continue
      if (now() - entry.joinedAt <= maxWait) return start(key, entry)
      answer(key, errorWith("ETIMEOUT", `lookup of ${entry.hostname}: waited over ${maxWait} ms for a thread`), "", 0)
    }
  }

  const start = (key: string, entry: Pending) => {
    running++
    const startedAt = now()
    const ended = (...result: Parameters<Done>) => {
      running--
      const took = now() - startedAt
      if (result[0] !== null && took >= SLOW_LOOKUP_MS) remember(hungUntil, key, now() + HUNG_NAME_MS)
      if (result[0] === null && took < SLOW_LOOKUP_MS) remember(quickUntil, key, now() + QUICK_NAME_MS)
      else quickUntil.delete(key)
      answer(key, ...result)
      startNext()
    }
    try {
      lookup(entry.hostname, entry.options, ended)
    } catch (error) {
      // A lookup that throws (an invalid name or option) must give its thread back and answer its callers.
      ended(error instanceof Error ? error : errorWith("EINVAL", String(error)), "", 0)
    }
  }

  const limited: LookupFunction = (hostname, options, done) => {
    const key = keyOf(hostname, options)
    const until = hungUntil.get(key)
    if (until !== undefined) {
      if (now() < until) {
        // As a resolver answers: later, never from inside the call.
        const error = errorWith("ETIMEOUT", `lookup of ${hostname}: its last lookup hung (over ${SLOW_LOOKUP_MS} ms); not tried again for ${Math.ceil((until - now()) / 1000)} s`)
        process.nextTick(() => done(error, "", 0))
        return
      }
      hungUntil.delete(key)
    }
    const joined = pending.get(key)
    if (joined !== undefined) {
      joined.callers.push(done)
      joined.joinedAt = now()
      return
    }
    const entry: Pending = { hostname, options, callers: [done], joinedAt: now() }
    pending.set(key, entry)
    if (running < max) start(key, entry)
    else ((quickUntil.get(key) ?? 0) > now() ? quickQueue : queue).push(key)
  }
  return Object.assign(limited, { running: () => running, waiting: () => quickQueue.length + queue.length })
}
