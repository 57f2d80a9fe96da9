/**
 * Name lookups for callback targets, bounded. `dns.lookup` runs on libuv's thread pool (4 threads unless
 * `UV_THREADPOOL_SIZE` says otherwise), and a lookup the resolver never answers holds its thread until the resolver
 * gives up, tens of seconds later, however soon the attempt that asked for it timed out. Callback hosts are the
 * session creators' names: unbounded, four whose DNS hangs would hold every thread, and the worker's own health checks
 * and reports (`localhost`, `run.vast.ai`) would wait behind them until the worker marked itself broken.
 *
 * So at most `max` lookups run at once (below the pool's size), and a lookup of a name already being looked up (with
 * the same options) waits for that one instead of taking another thread: a name whose DNS hangs holds one thread at most.
 */
import type { LookupFunction } from "node:net"

type Done = Parameters<LookupFunction>[2]
type LookupOptions = Parameters<LookupFunction>[1]

export interface LimitedLookup extends LookupFunction {
  /** Lookups running now (tests, `/debug`). */
  readonly running: () => number
  /** Names waiting for a thread. */
  readonly waiting: () => number
}

/** Callback lookups at once: two of the pool's four threads, the other two left to the health checks and reports. */
export const CALLBACK_LOOKUPS = 2

const keyOf = (hostname: string, options: LookupOptions): string =>
  `${hostname}\u0000${String(options.family ?? 0)}\u0000${String(options.hints ?? 0)}\u0000${options.all === true ? "all" : "one"}`

export const limitLookups = (lookup: LookupFunction, max: number): LimitedLookup => {
  /** The callers of each lookup running or waiting, by name and options. */
  const callers = new Map<string, Array<Done>>()
  /** Lookups waiting for a thread, oldest first. */
  const queue: Array<{ readonly key: string; readonly hostname: string; readonly options: LookupOptions }> = []
  let running = 0

  const start = (key: string, hostname: string, options: LookupOptions) => {
    running++
    lookup(hostname, options, (...answer: Parameters<Done>) => {
      running--
      const waiting = callers.get(key) ?? []
      callers.delete(key)
      const next = queue.shift()
      if (next !== undefined) start(next.key, next.hostname, next.options)
      for (const done of waiting) done(...answer)
    })
  }

  const limited: LookupFunction = (hostname, options, done) => {
    const key = keyOf(hostname, options)
    const joined = callers.get(key)
    if (joined !== undefined) return void joined.push(done)
    callers.set(key, [done])
    if (running < max) start(key, hostname, options)
    else queue.push({ key, hostname, options })
  }
  return Object.assign(limited, { running: () => running, waiting: () => queue.length })
}
