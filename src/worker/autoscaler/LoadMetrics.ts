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
import { Clock, Effect, Queue } from "effect"
import type { DeletionRecord } from "../../protocol/workerStatus.js"
import { BoundedFifo } from "../../shared/BoundedFifo.js"
import { RefusalRing } from "./RefusalRing.js"

/** Workload of one `/ping` (the null worker's handler). */
export const PING_WORKLOAD = 100
/** Counters never exceed this (a billion sessions of the largest cost); they stay finite whatever arrives. */
export const MAX_COUNTER = 1e15
/** Records of finished work kept while the autoscaler is unreachable; the oldest go first beyond it. */
export const MAX_PENDING_FINISHED = 100_000
/** Records of refused requests kept while undelivered; a flood of refusals is dropped oldest-first beyond it. */
export const MAX_PENDING_REFUSALS = 10_000

interface Working {
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
  /** Seconds from start to ready; 0 before. */
  readonly loadtime: number
  readonly errorMsg: string
}

export interface RequestInfo {
  readonly requestIdx: number
  readonly workload: number
}

/** What is waiting for `/delete_requests/`. */
export interface PendingDeletions {
  readonly finished: number
  readonly refusals: number
  /** Refusal records dropped at the cap since start. */
  readonly droppedRefusals: number
}

const seconds = (millis: number): number => millis / 1000
const bounded = (value: number): number => (value > MAX_COUNTER ? MAX_COUNTER : value < 0 ? 0 : value)

export class LoadMetrics extends Effect.Service<LoadMetrics>()("worker/LoadMetrics", {
  effect: Effect.gen(function* () {
    const clock = yield* Effect.clock
    const startedAt = clock.unsafeCurrentTimeMillis()
    // Wakes the reporter; sliding(1) coalesces a burst of changes into one report.
    const changes = yield* Queue.sliding<void>(1)
    const signal = () => Queue.unsafeOffer(changes, undefined)

    const working = new Map<string, Working>()
    let nextRequestId = 0
    let numRequestsRecieved = 0
    let counters: IntervalCounters = { received: 0, served: 0, cancelled: 0, rejected: 0 }
    const finished = new BoundedFifo<DeletionRecord>(MAX_PENDING_FINISHED)
    const refusals = new RefusalRing(MAX_PENDING_REFUSALS)
    // Records handed out for refusals, by the ring's sequence number: what `deletionsDelivered` removes.
    const refusalSeq = new WeakMap<DeletionRecord, number>()
    let droppedRefusals = 0
    let readyAt: number | null = null
    let errorMsg = ""

    const add = (delta: Partial<IntervalCounters>) => {
      counters = {
        received: bounded(counters.received + (delta.received ?? 0)),
        served: bounded(counters.served + (delta.served ?? 0)),
        cancelled: bounded(counters.cancelled + (delta.cancelled ?? 0)),
        rejected: bounded(counters.rejected + (delta.rejected ?? 0))
      }
    }
    const queueFinished = (record: DeletionRecord) => void finished.push(record)
    const begin = (key: string, info: RequestInfo, at: number) => {
      working.set(key, { requestIdx: info.requestIdx, workload: info.workload, startedAt: at })
      numRequestsRecieved = bounded(numRequestsRecieved + 1)
      add({ received: info.workload })
      signal()
    }
    const finish = (key: string, at: number) => {
      const entry = working.get(key)
      if (entry === undefined) return
      working.delete(key)
      add({ served: entry.workload })
      queueFinished({
        request_idx: entry.requestIdx,
        success: true,
        status: "Success",
        entered_queue_at: seconds(entry.startedAt),
        work_started_at: seconds(entry.startedAt),
        work_completed_at: seconds(at)
      })
      signal()
    }
    const reject = (info: RequestInfo, workStartedAt: number, at: number) => {
      numRequestsRecieved = bounded(numRequestsRecieved + 1)
      add({ rejected: info.workload })
      droppedRefusals += refusals.push(info.requestIdx, at, workStartedAt)
      signal()
    }

    const unsafeSessionOpened = (sessionId: string, info: RequestInfo, at: number): void => begin(`s:${sessionId}`, info, at)
    const unsafeSessionClosed = (sessionId: string, at: number): void => finish(`s:${sessionId}`, at)
    const unsafeSessionRejected = (info: RequestInfo): void => {
      const at = clock.unsafeCurrentTimeMillis()
      reject(info, at, at)
    }
    const unsafeRequestServed = (info: RequestInfo): void => {
      const at = clock.unsafeCurrentTimeMillis()
      const key = `r:${nextRequestId++}`
      begin(key, info, at)
      finish(key, at)
    }
    const unsafeSessionRequestServed = (workload: number): void => {
      add({ received: workload, served: workload })
      signal()
    }
    const unsafeSessionRequestRejected = (workload: number): void => {
      add({ rejected: workload })
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
        readyAt = clock.unsafeCurrentTimeMillis()
        signal()
      }),
      /** An error the autoscaler must see; it stays (vast-protocol.md §6.4: Vast decommissions errored workers). */
      markErrored: (message: string) =>
        Effect.sync(() => {
          if (errorMsg !== "") return
          errorMsg = message
          signal()
        }),
      /** Report now, e.g. to say the worker is draining or empty. */
      touch: Effect.sync(signal),

      snapshot: Effect.sync((): LoadSnapshot => {
        let curLoad = 0
        const workingRequestIdxs: Array<number> = []
        for (const entry of working.values()) {
          curLoad += entry.workload
          workingRequestIdxs.push(entry.requestIdx)
        }
        return {
          counters,
          curLoad: bounded(curLoad),
          workingRequestIdxs,
          numRequestsRecieved,
          ready: readyAt !== null,
          loadtime: readyAt === null ? 0 : seconds(readyAt - startedAt),
          errorMsg
        }
      }),
      /** A report with these counters was delivered: they no longer count (later ones still do). */
      acknowledge: (sent: IntervalCounters) =>
        Effect.sync(() => {
          counters = {
            received: bounded(counters.received - sent.received),
            served: bounded(counters.served - sent.served),
            cancelled: bounded(counters.cancelled - sent.cancelled),
            rejected: bounded(counters.rejected - sent.rejected)
          }
        }),

      /** The next `/delete_requests/` batch, at most `max`: finished work first, then refusals. */
      pendingDeletions: (max: number) =>
        Effect.sync((): ReadonlyArray<DeletionRecord> => {
          const batch = finished.peek(max)
          if (batch.length >= max) return batch
          const records = batch.slice()
          for (const refusal of refusals.peek(max - batch.length)) {
            const record: DeletionRecord = {
              request_idx: refusal.requestIdx,
              success: false,
              status: "Rejected",
              entered_queue_at: seconds(refusal.enteredAt),
              work_started_at: seconds(refusal.workStartedAt),
              work_completed_at: 0
            }
            refusalSeq.set(record, refusal.seq)
            records.push(record)
          }
          return records
        }),
      /** These records (from `pendingDeletions`) were delivered; records queued since stay. */
      deletionsDelivered: (delivered: ReadonlyArray<DeletionRecord>) =>
        Effect.sync(() => {
          finished.removeDelivered(new Set(delivered))
          let through = -1
          for (const record of delivered) through = Math.max(through, refusalSeq.get(record) ?? -1)
          refusals.removeThrough(through)
        }),
      deletionBacklog: Effect.sync((): PendingDeletions => ({ finished: finished.size, refusals: refusals.size, droppedRefusals })),

      /** Completes when something changed since the last call (for the reporter). */
      changed: Queue.take(changes),
      /** Milliseconds since the service started, by `Clock`. */
      uptimeMillis: Effect.map(Clock.currentTimeMillis, (now) => now - startedAt)
    }
  })
}) {}
