/**
 * What the worker tells the autoscaler about its load (vast-protocol.md §4.5, §4.6, §5.2).
 *
 * A session is one request of `workload = cost`: it sits in `cur_load` while open (occupancy, not
 * queued work), and its close is a success. Sessionless `/ping`s are short requests of workload 100;
 * pings inside a session only add to `new_load`/`cur_perf` (or `rej_load`). Bookkeeping is keyed by
 * our own ids, never by `reqnum`, and nothing of a request survives its end except its record in the
 * `/delete_requests/` queue, which is dropped once delivered.
 */
import { Clock, Effect, Queue } from "effect"

/** Workload of one `/ping` (the null worker's handler). */
export const PING_WORKLOAD = 100
/** `max_perf` of a ready null worker. */
export const MAX_PERF = 100
/** Records kept for `/delete_requests/` while the autoscaler is unreachable; the oldest go first beyond it. */
const MAX_PENDING_DELETIONS = 100_000

export type RequestStatus = "Success" | "Error" | "Cancelled" | "Rejected"

/** One `/delete_requests/` record, as the wire has it (times in epoch seconds). */
export interface DeletionRecord {
  readonly request_idx: number
  readonly success: boolean
  readonly status: RequestStatus
  readonly entered_queue_at: number
  readonly work_started_at: number
  readonly work_completed_at: number
}

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

const seconds = (millis: number): number => millis / 1000

export class LoadMetrics extends Effect.Service<LoadMetrics>()("app/LoadMetrics", {
  effect: Effect.gen(function* () {
    const startedAt = yield* Clock.currentTimeMillis
    // Wakes the reporter; sliding(1) coalesces a burst of changes into one report.
    const changes = yield* Queue.sliding<void>(1)
    const signal = () => Queue.unsafeOffer(changes, undefined)

    const working = new Map<string, Working>()
    let nextRequestId = 0
    let numRequestsRecieved = 0
    let counters: IntervalCounters = { received: 0, served: 0, cancelled: 0, rejected: 0 }
    let deletions: Array<DeletionRecord> = []
    let readyAt: number | null = null
    let errorMsg = ""

    const add = (delta: Partial<IntervalCounters>) => {
      counters = {
        received: counters.received + (delta.received ?? 0),
        served: counters.served + (delta.served ?? 0),
        cancelled: counters.cancelled + (delta.cancelled ?? 0),
        rejected: counters.rejected + (delta.rejected ?? 0)
      }
    }
    const queueDeletion = (record: DeletionRecord) => {
      deletions.push(record)
      if (deletions.length > MAX_PENDING_DELETIONS) deletions.splice(0, deletions.length - MAX_PENDING_DELETIONS)
    }
    const begin = (key: string, info: RequestInfo, at: number) => {
      working.set(key, { requestIdx: info.requestIdx, workload: info.workload, startedAt: at })
      numRequestsRecieved += 1
      add({ received: info.workload })
      signal()
    }
    const finish = (key: string, at: number, status: "Success" | "Error" | "Cancelled") => {
      const entry = working.get(key)
      if (entry === undefined) return
      working.delete(key)
      add(status === "Cancelled" ? { cancelled: entry.workload } : { served: status === "Success" ? entry.workload : 0 })
      queueDeletion({
        request_idx: entry.requestIdx,
        // The framework reports cancelled requests as successes.
        success: status !== "Error",
        status,
        entered_queue_at: seconds(entry.startedAt),
        work_started_at: seconds(entry.startedAt),
        work_completed_at: status === "Cancelled" ? 0 : seconds(at)
      })
      signal()
    }
    const reject = (info: RequestInfo, workStartedAt: number, at: number) => {
      numRequestsRecieved += 1
      add({ rejected: info.workload })
      queueDeletion({
        request_idx: info.requestIdx,
        success: false,
        status: "Rejected",
        entered_queue_at: seconds(at),
        work_started_at: seconds(workStartedAt),
        work_completed_at: 0
      })
      signal()
    }
    const now = Clock.currentTimeMillis

    return {
      /** A session was created: occupancy of `cost` until it closes. */
      sessionOpened: (sessionId: string, info: RequestInfo) =>
        Effect.map(now, (at) => begin(`s:${sessionId}`, info, at)),
      /** A session closed (any reason): a success. */
      sessionClosed: (sessionId: string) => Effect.map(now, (at) => finish(`s:${sessionId}`, at, "Success")),
      /** A create was refused (429 or 401); a session create's `work_started_at` is the create time. */
      sessionRejected: (info: RequestInfo) => Effect.map(now, (at) => reject(info, at, at)),
      /** A sessionless request was handled at once (the null worker's `/ping`). */
      requestServed: (info: RequestInfo) =>
        Effect.map(now, (at) => {
          const key = `r:${nextRequestId++}`
          begin(key, info, at)
          finish(key, at, "Success")
        }),
      /** A sessionless request was refused (401). */
      requestRejected: (info: RequestInfo) => Effect.map(now, (at) => reject(info, 0, at)),
      /** A request inside a session: workload only, never in the request counts (§4.5). */
      sessionRequestServed: (workload: number) =>
        Effect.sync(() => {
          add({ received: workload, served: workload })
          signal()
        }),
      sessionRequestRejected: (workload: number) =>
        Effect.sync(() => {
          add({ rejected: workload })
          signal()
        }),

      /** Ready to take work: `max_perf` becomes 100 and `loadtime` is fixed. */
      markReady: Effect.map(now, (at) => {
        if (readyAt !== null) return
        readyAt = at
        signal()
      }),
      /** An error the autoscaler must see; it stays (vast-protocol.md §6.4: no recovery). */
      markErrored: (message: string) =>
        Effect.sync(() => {
          if (errorMsg !== "") return
          errorMsg = message
          signal()
        }),

      snapshot: Effect.sync(
        (): LoadSnapshot => {
          let curLoad = 0
          const workingRequestIdxs: Array<number> = []
          for (const entry of working.values()) {
            curLoad += entry.workload
            workingRequestIdxs.push(entry.requestIdx)
          }
          return {
            counters,
            curLoad,
            workingRequestIdxs,
            numRequestsRecieved,
            ready: readyAt !== null,
            loadtime: readyAt === null ? 0 : seconds(readyAt - startedAt),
            errorMsg
          }
        }
      ),
      /** A report with these counters was delivered: they no longer count (later ones still do). */
      acknowledge: (sent: IntervalCounters) =>
        Effect.sync(() => {
          counters = {
            received: counters.received - sent.received,
            served: counters.served - sent.served,
            cancelled: counters.cancelled - sent.cancelled,
            rejected: counters.rejected - sent.rejected
          }
        }),

      /** The oldest queued `/delete_requests/` records, at most `max`. */
      pendingDeletions: (max: number) => Effect.sync((): ReadonlyArray<DeletionRecord> => deletions.slice(0, max)),
      /** These records (from `pendingDeletions`) were delivered; records queued since stay. */
      deletionsDelivered: (delivered: ReadonlyArray<DeletionRecord>) =>
        Effect.sync(() => {
          const sent = new Set(delivered)
          deletions = deletions.filter((record) => !sent.has(record))
        }),

      /** Completes when something changed since the last call (for the reporter). */
      changed: Queue.take(changes)
    }
  })
}) {}
