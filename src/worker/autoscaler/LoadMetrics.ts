/**
 * What the worker tells the autoscaler about its load (vast-protocol.md §4.5, §4.6, §5.2).
 *
 * A session is one request of `workload = cost`: it sits in `cur_load` while open (occupancy, not queued
 * work), and its close is a success. Sessionless `/ping`s are short requests of workload 100; pings inside
 * a session only add to `new_load`/`cur_perf` (or `rej_load`). Bookkeeping is keyed by our own ids, never by
 * `reqnum`, and nothing of a request survives its end except its record in the `/delete_requests/` queue,
 * which is dropped once delivered.
 *
 * Bounds: every workload is at most `MAX_COST` (the request Schemas refuse more) and every counter is
 * clamped to `MAX_COUNTER`, so no report can carry `NaN` or `Infinity`. Only requests that passed the
 * signature check (or all, with `UNSECURED=true`) reach this service: an unauthenticated client cannot
 * add demand or `request_idx` values. Records of finished work and records of refusals queue separately:
 * refusals (a flood of 429s) are capped and dropped oldest-first, and never delay or push out a close.
 */
import { Effect } from "effect"
import { monotonicMillis, unsafeMonotonicMillis } from "../../shared/monotonic.js"
import { deletionRecordJson } from "../../protocol/workerStatus.js"
import { Wakeups } from "../../shared/Wakeups.js"
import { DeletionRing } from "./DeletionRing.js"

/** Workload of one `/ping` (the null worker's handler). */
export const PING_WORKLOAD = 100
/** Counters never exceed this (a billion sessions of the largest cost); they stay finite whatever arrives. */
export const MAX_COUNTER = 1e15
/** Records of finished work kept while the autoscaler is unreachable; the oldest go first beyond it. */
export const MAX_PENDING_FINISHED = 100_000
/** Records of refused requests kept while undelivered; a flood of refusals is dropped oldest-first beyond it. */
export const MAX_PENDING_REFUSALS = 10_000

interface Working {
  readonly sessionId: string
  readonly requestIdx: number
  readonly workload: number
  readonly startedAt: number
}

/** The interval counters a report carries; subtracted (not zeroed) once the report is delivered. */
export interface IntervalCounters {
  readonly received: number
  readonly served: number
  readonly cancelled: number
  readonly rejected: number
}

export interface LoadSnapshot {
  readonly counters: IntervalCounters
  readonly curLoad: number
  readonly workingRequestIdxs: ReadonlyArray<number>
  readonly numRequestsRecieved: number
  readonly ready: boolean
  /**
   * The worker takes no new session (draining to stop, recycled or errored): reported as `max_perf` 0, so that none is
   * routed to it.
   */
  readonly takingNoSession: boolean
  /** Seconds from start to ready; 0 before. */
  readonly loadtime: number
  readonly errorMsg: string
}

export interface RequestInfo {
  readonly requestIdx: number
  readonly workload: number
}

/** A `/delete_requests/` batch: its records as JSON text, and where it ends in each queue. */
export interface DeletionBatch {
  readonly size: number
  /** The `requests` array of the body, as JSON. */
  readonly requestsJson: string
  /** The last sequence number the batch took from each queue (-1: none). */
  readonly finishedThrough: number
  readonly refusalsThrough: number
}

/** What is waiting for `/delete_requests/`. */
export interface PendingDeletions {
  readonly finished: number
  readonly refusals: number
  /** Records of finished work dropped at the cap since start (the autoscaler unreachable for 100,000 closes). */
  readonly droppedFinished: number
  /** Refusal records dropped at the cap since start. */
  readonly droppedRefusals: number
}

const seconds = (millis: number): number => millis / 1000
const bounded = (value: number): number => (value > MAX_COUNTER ? MAX_COUNTER : value < 0 ? 0 : value)

export class LoadMetrics extends Effect.Service<LoadMetrics>()("worker/LoadMetrics", {
  effect: Effect.gen(function* () {
    const clock = yield* Effect.clock
    // On the monotonic clock: `loadtime` and the uptime are intervals, which a step of the wall clock must not bend.
    const startedAt = unsafeMonotonicMillis(clock)
    // Wakes the reporter. A burst of changes while it is busy is one change: a flag, and a wake-up while it waits
    // (signalled twice per session, so cheaper than offering to a queue).
    let changedSinceTaken = false
    const reporter = new Wakeups()
    const signal = () => {
      changedSinceTaken = true
      reporter.wakeAll()
    }
    // Taken as it is looked at: a change after the wake-up is pending for the next wait, not merged into this one.
    const changed = reporter.until(() => {
      if (!changedSinceTaken) return false
      changedSinceTaken = false
      return true
    })

    // Open sessions, oldest first: the only work that lasts (a sessionless request begins and ends in one step).
    // An array searched by id, not a map: there are few (one by default), and a map emptied at every close
    // allocated a new table each time (~1 µs per session in the running worker, docs/performance.md).
    const working: Array<Working> = []
    let numRequestsRecieved = 0
    // The interval counters as plain numbers, changed in place: no object per event on the session path.
    let received = 0
    let served = 0
    // The framework's `workload_cancelled` (a handler cancelled by its client's disconnect, §8d): nothing here is, as every
    // session route answers in one step. Kept at 0 so that `new_load` is the protocol's own formula (review 43 I2).
    let cancelled = 0
    let rejected = 0
    const finished = new DeletionRing(MAX_PENDING_FINISHED)
    const refusals = new DeletionRing(MAX_PENDING_REFUSALS)
    let droppedFinished = 0
    let droppedRefusals = 0
    let readyAt: number | null = null
    let errorMsg = ""
    // Wakes a drain, which ends once the worker is errored (review 56 M1).
    const erroredWaits = new Wakeups()
    let takingNoSession = false

    const begin = (info: RequestInfo) => {
      numRequestsRecieved = bounded(numRequestsRecieved + 1)
      received = bounded(received + info.workload)
    }
    const finish = (info: RequestInfo, startedAt: number, at: number) => {
      served = bounded(served + info.workload)
      droppedFinished += finished.push(info.requestIdx, startedAt, startedAt, at)
    }
    const reject = (info: RequestInfo, workStartedAt: number, at: number) => {
      numRequestsRecieved = bounded(numRequestsRecieved + 1)
      rejected = bounded(rejected + info.workload)
      droppedRefusals += refusals.push(info.requestIdx, at, workStartedAt, 0)
      signal()
    }

    const unsafeSessionOpened = (sessionId: string, info: RequestInfo, at: number): void => {
      working.push({ sessionId, requestIdx: info.requestIdx, workload: info.workload, startedAt: at })
      begin(info)
      signal()
    }
    const unsafeSessionClosed = (sessionId: string, at: number): void => {
      let found = 0
      while (found < working.length && working[found]?.sessionId !== sessionId) found++
      const entry = working[found]
      if (entry === undefined) return
      // Removed in place, keeping the order (the report lists them oldest first).
      working.copyWithin(found, found + 1)
      working.pop()
      finish(entry, entry.startedAt, at)
      signal()
    }
    const unsafeSessionRejected = (info: RequestInfo): void => {
      const at = clock.unsafeCurrentTimeMillis()
      reject(info, at, at)
    }
    // A refusal of no workload: its record, and no rejected load.
    const unsafeCreateInvalid = (requestIdx: number): void => unsafeSessionRejected({ requestIdx, workload: 0 })
    const unsafeRequestServed = (info: RequestInfo): void => {
      const at = clock.unsafeCurrentTimeMillis()
      begin(info)
      finish(info, at, at)
      signal()
    }
    const unsafeSessionRequestServed = (workload: number): void => {
      received = bounded(received + workload)
      served = bounded(served + workload)
      signal()
    }
    const unsafeSessionRequestRejected = (workload: number): void => {
      rejected = bounded(rejected + workload)
      signal()
    }

    return {
      /** A session was created at `at`: occupancy of `cost` until it closes. */
      sessionOpened: (sessionId: string, info: RequestInfo, at: number) => Effect.sync(() => unsafeSessionOpened(sessionId, info, at)),
      /** A session closed (any reason): a success. */
      sessionClosed: (sessionId: string, at: number) => Effect.sync(() => unsafeSessionClosed(sessionId, at)),
      /** An authenticated create was refused (429); a session create's `work_started_at` is the create time. */
      sessionRejected: (info: RequestInfo) => Effect.sync(() => unsafeSessionRejected(info)),
      /** Synchronous forms, for the pool's one step and the session path's routes. */
      unsafeSessionOpened,
      unsafeSessionClosed,
      unsafeSessionRejected,
      /**
       * A signed create refused for what it asked (`422`: a lifetime out of range, a route this worker cannot call):
       * its `Rejected` record tells the autoscaler the request is over (SDK flow 45 M1: the local serverless counted it
       * on the worker until a report, up to 5 s), but it is no rejected load: no other worker would take it either.
       */
      unsafeCreateInvalid,
      unsafeRequestServed,
      unsafeSessionRequestServed,
      unsafeSessionRequestRejected,
      /** A sessionless request was handled at once (the null worker's `/ping`). */
      requestServed: (info: RequestInfo) => Effect.sync(() => unsafeRequestServed(info)),
      /** A request inside a session: workload only, never in the request counts (§4.5). */
      sessionRequestServed: (workload: number) => Effect.sync(() => unsafeSessionRequestServed(workload)),
      /** An authenticated request inside a session was refused (its `auth_data` is not the session's). */
      sessionRequestRejected: (workload: number) => Effect.sync(() => unsafeSessionRequestRejected(workload)),

      /** Ready to take work: `max_perf` becomes 100 and `loadtime` is fixed. */
      markReady: Effect.sync(() => {
        if (readyAt !== null) return
        readyAt = unsafeMonotonicMillis(clock)
        signal()
      }),
      /** An error the autoscaler must see; it stays (vast-protocol.md §6.4: Vast decommissions errored workers). Whether this call set it. */
      markErrored: (message: string) =>
        Effect.sync((): boolean => {
          if (errorMsg !== "") return false
          errorMsg = message
          signal()
          erroredWaits.wakeAll()
          return true
        }),
      /** Completes once the worker is errored (at once, if it is); its `error_msg`. */
      awaitErrored: Effect.map(
        erroredWaits.until(() => errorMsg !== ""),
        () => errorMsg
      ),
      /** The worker takes no new session from now on; reported at once. */
      markTakingNoSession: Effect.sync(() => {
        if (takingNoSession) return
        takingNoSession = true
        signal()
      }),

      snapshot: Effect.sync((): LoadSnapshot => {
        let curLoad = 0
        const workingRequestIdxs: Array<number> = []
        for (const entry of working) {
          curLoad += entry.workload
          workingRequestIdxs.push(entry.requestIdx)
        }
        return {
          counters: { received, served, cancelled, rejected },
          curLoad: bounded(curLoad),
          workingRequestIdxs,
          numRequestsRecieved,
          ready: readyAt !== null,
          takingNoSession,
          loadtime: readyAt === null ? 0 : seconds(readyAt - startedAt),
          errorMsg
        }
      }),
      /** A report with these counters was delivered: they no longer count (later ones still do). */
      acknowledge: (sent: IntervalCounters) =>
        Effect.sync(() => {
          received = bounded(received - sent.received)
          served = bounded(served - sent.served)
          cancelled = bounded(cancelled - sent.cancelled)
          rejected = bounded(rejected - sent.rejected)
        }),

      /** The next `/delete_requests/` batch, at most `max` records: finished work first, then refusals. */
      pendingDeletions: (max: number) =>
        Effect.sync((): DeletionBatch => {
          let requestsJson = "["
          let size = 0
          const write = (record: string) => {
            requestsJson += size++ === 0 ? record : `,${record}`
          }
          const finishedThrough = finished.forEachOldest(max, (requestIdx, enteredAt, workStartedAt, workCompletedAt) =>
            write(deletionRecordJson(requestIdx, true, "Success", seconds(enteredAt), seconds(workStartedAt), seconds(workCompletedAt)))
          )
          // A refused session create never ran: no completion time (vast-protocol.md §5.6).
          const refusalsThrough = refusals.forEachOldest(max - size, (requestIdx, enteredAt, workStartedAt) =>
            write(deletionRecordJson(requestIdx, false, "Rejected", seconds(enteredAt), seconds(workStartedAt), 0))
          )
          return { size, requestsJson: `${requestsJson}]`, finishedThrough, refusalsThrough }
        }),
      /** This batch (from `pendingDeletions`) was delivered; records queued since stay. */
      deletionsDelivered: (delivered: DeletionBatch) =>
        Effect.sync(() => {
          finished.removeThrough(delivered.finishedThrough)
          refusals.removeThrough(delivered.refusalsThrough)
        }),
      deletionBacklog: Effect.sync((): PendingDeletions => ({ finished: finished.size, refusals: refusals.size, droppedFinished, droppedRefusals })),

      /** Completes when something changed since it last completed (for the reporter). */
      changed,
      /** Milliseconds since the service started, by `Clock`. */
      uptimeMillis: Effect.map(monotonicMillis, (now) => now - startedAt)
    }
  })
}) {}
