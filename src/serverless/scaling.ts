/**
 * The local serverless's routing and scaling rules, as pure functions of its state and the clock.
 *
 * This is OUR model of Vast's closed-source autoscaler, built from its documented parameters
 * (vast-protocol.md §10) and the product README; docs/local-serverless.md says which parts are
 * documented behaviour and which are our reading.
 */
import { HEARTBEAT_SECONDS, REPORT_SPACING_MS } from "../protocol/workerStatus.js"

/** An endpoint's scaling parameters (Vast's names). */
export interface EndpointParams {
  /** Fraction of capacity to fill; capacity needed = load / target_util. */
  readonly target_util: number
  /** Load floor (perf units) kept provisioned even with no traffic. */
  readonly min_load: number
  /** Hard cap on workers. */
  readonly max_workers: number
  /** Idle workers kept (not destroyed) when there is no load. */
  readonly cold_workers: number
  /** Seconds of no load after which idle workers are stopped; ≤ 0 never. */
  readonly inactivity_timeout: number
  /** A worker is routable while its estimated queue time (cur_load / max_perf) is at most this. */
  readonly max_queue_time: number
  /** A waiting request older than this asks for one more worker, capacity rule or not. */
  readonly target_queue_time: number
}

/** Vast's documented defaults (vast-protocol.md §10); `inactivity_timeout` has none documented: never. */
export const vastDefaults: EndpointParams = {
  target_util: 0.9,
  min_load: 0,
  max_workers: 20,
  cold_workers: 5,
  inactivity_timeout: -1,
  max_queue_time: 30,
  target_queue_time: 10
}

/** What the null worker README recommends for one session = one worker, scaling to zero. */
export const recommended: EndpointParams = {
  target_util: 1,
  min_load: 0,
  max_workers: 20,
  cold_workers: 0,
  inactivity_timeout: 60,
  max_queue_time: 0,
  target_queue_time: 0
}

/** A worker's perf before it reports one (a null worker reports 100). */
export const ASSUMED_PERF = 100

/**
 * A ready worker that has not reported for this long (three of its heartbeats) is presumed hung, stopped or cut
 * off: it is errored, so it gets no more routes and is replaced, instead of being handed every reservation.
 */
export const SILENCE_LIMIT_MS = 3 * HEARTBEAT_SECONDS * 1000

/**
 * A worker still starting this long after its launch (a null worker is ready in a fraction of a second; one that
 * never reports, or never gets ready, would otherwise hold its place for ever) is errored and replaced.
 */
export const START_LIMIT_MS = 60_000

/**
 * A worker reports a change of its load at most one report spacing after it (`REPORT_SPACING_MS`), so a request routed
 * just after a session ended can find the worker's last report still busy. A waiting request this young does not yet
 * ask for a new worker while a busy worker's pending report could free a place for it. The grace counts from the
 * request, not from the end, and the report takes its time to arrive: 100 ms more than the spacing.
 */
export const REPORT_GRACE_MS = REPORT_SPACING_MS + 100

/** Whether a worker in `phase`, launched at `startedAt`, is still not ready at `now` past `START_LIMIT_MS`. */
export const neverReady = (phase: WorkerPhase, startedAt: number, now: number): boolean => phase === "starting" && now - startedAt > START_LIMIT_MS

/** Whether a worker in `phase`, last heard from at `lastReportAt`, has been silent too long at `now`. */
export const silentTooLong = (phase: WorkerPhase, lastReportAt: number | null, now: number): boolean =>
  phase === "ready" && lastReportAt !== null && now - lastReportAt > SILENCE_LIMIT_MS

export type WorkerPhase = "starting" | "ready" | "stopping" | "errored"

export interface WorkerView {
  readonly id: number
  readonly phase: WorkerPhase
  /** Last reported `cur_load`. */
  readonly curLoad: number
  /** Last reported `max_perf` (0 until ready). */
  readonly maxPerf: number
  /** Load routed to the worker since its last report: the autoscaler's own knowledge of what it sent. */
  readonly routedLoad: number
  /**
   * When the worker's load (reported plus routed) last dropped to zero, or when it became ready
   * without load; null while it has load. Idle time is counted from here.
   */
  readonly idleSince: number | null
}

export interface WaitingRequest {
  readonly requestIdx: number
  readonly cost: number
  readonly since: number
}

/** The states the status page, `/status` and `/metrics` show. */
export const displayStates = ["starting", "busy", "idle", "draining", "stopping", "errored"] as const
export type DisplayState = (typeof displayStates)[number]

/**
 * A ready worker that reports no capacity (`max_perf` 0) is draining to stop (its own SIGTERM, `/pyworker/update`): it
 * serves the sessions it holds and takes no new one, so it is neither capacity nor demand for scaling.
 */
export const isDraining = (worker: WorkerView): boolean => worker.phase === "ready" && worker.maxPerf <= 0

/** A worker's state as shown: a ready worker is draining, or busy while it has load (reported or routed), or idle. */
export const displayState = (worker: WorkerView): DisplayState =>
  worker.phase === "ready" ? (isDraining(worker) ? "draining" : worker.curLoad + worker.routedLoad > 0 ? "busy" : "idle") : worker.phase

/**
 * A state as `/get_endpoint_workers/` says it, in the words of the Vast SDK's `Worker` helpers, which know a ready
 * worker as `idle`, `ready` or `running` and a worker that will serve nothing as `stopped`, `stopping`, `exited` or
 * `error` (SDK flow 45 L2: `busy` was neither, and an errored worker not a stopped one). A draining worker takes no new
 * session: it is on its way out.
 */
export const sdkStatusOf = (state: DisplayState): string => SDK_STATUS[state]

/** Every state has its word: a new one has to be given one. */
const SDK_STATUS: Record<DisplayState, string> = {
  starting: "starting",
  busy: "running",
  idle: "idle",
  draining: "stopping",
  stopping: "stopping",
  errored: "error"
}

const load = (worker: WorkerView): number => worker.curLoad + worker.routedLoad

/**
 * `idleSince` after the worker was seen with `currentLoad` at `now`: cleared while it has load, set
 * when the load first reads zero, and kept as it is while the load stays at zero.
 *
 * Idle time runs from the moment the load dropped, not from the last report that showed load:
 * a worker repeats an unchanged load only every 10 s, so the last report with load can be seconds
 * older than the end of the session, and counting from it would stop the worker as its session ends.
 */
export const idleSinceAfter = (idleSince: number | null, currentLoad: number, now: number): number | null =>
  currentLoad > 0 ? null : (idleSince ?? now)

/**
 * The worker a request of `cost` is routed to: a ready worker whose estimated queue time
 * (load / max_perf) is within `max_queue_time`; the least loaded such worker, oldest first on ties.
 */
export const routeTarget = (
  workers: ReadonlyArray<WorkerView>,
  params: EndpointParams
): WorkerView | undefined => {
  let best: WorkerView | undefined
  for (const worker of workers) {
    if (worker.phase !== "ready" || worker.maxPerf <= 0) continue
    if (load(worker) / worker.maxPerf > params.max_queue_time) continue
    if (best === undefined || load(worker) < load(best)) best = worker
  }
  return best
}

export interface ScalingDecision {
  /** Workers to start now. */
  readonly start: number
  /** Why they start: the capacity rule, or a request waiting past target_queue_time. */
  readonly startReason: "capacity" | "queue_time"
  /** Workers to stop now (idle past the inactivity timeout, or errored). */
  readonly stop: ReadonlyArray<number>
  /** The capacity the rule asked for, for the status page. */
  readonly neededCapacity: number
}

/**
 * The load the ready workers' next reports could show ended: what they reported, and what was routed to them since. A
 * worker reports a change within `REPORT_SPACING_MS`, and its report counts every request it received
 * (`num_requests_recieved`), so a session routed, opened and closed between two reports is known to be over at the
 * next one (sdk51 #3: taken for load that had just begun, it started a spare worker in a reservation loop).
 */
export const freeableLoad = (serving: ReadonlyArray<WorkerView>): number =>
  // A draining worker's ended load takes no route (review 63 #7).
  serving.reduce((sum, worker) => sum + (worker.phase === "ready" && !isDraining(worker) ? worker.curLoad + worker.routedLoad : 0), 0)

/**
 * The waiting requests that ask for capacity at `now`: all but the youngest ones (within `REPORT_GRACE_MS`) whose cost
 * the busy workers' load covers (`freeableLoad`), oldest first, since those may be routed to a worker whose report of a
 * session's end is still on its way. Without a busy worker every waiting request counts at once (a scale-up from zero waits for
 * nothing).
 */
export const pressingRequests = (
  waiting: ReadonlyArray<WaitingRequest>,
  serving: ReadonlyArray<WorkerView>,
  now: number
): ReadonlyArray<WaitingRequest> => {
  let freeable = freeableLoad(serving)
  if (freeable <= 0) return waiting
  return [...waiting]
    .sort((a, b) => a.since - b.since)
    .filter((request) => {
      if (now - request.since >= REPORT_GRACE_MS || request.cost > freeable) return true
      freeable -= request.cost
      return false
    })
}

/**
 * How many workers to start and which to stop.
 *
 * - waiting requests count once they are pressing (`pressingRequests`): a young one a busy worker may take waits for
 *   that worker's next report;
 * - capacity needed = max(min_load, reported load + routed load + waiting cost) / target_util;
 * - capacity provisioned = perf of every starting or ready worker (100 until reported);
 * - start enough workers to cover the gap (within max_workers, which counts every worker whose process has not
 *   exited: starting, ready, draining, errored or stopping), plus one when a request has waited
 *   longer than target_queue_time, nothing is starting already, and no worker could take it;
 * - stop errored workers (they are replaced by the rule above, at once below max_workers, or once gone at it);
 * - stop a ready worker whose load has been zero for inactivity_timeout (counted from `idleSince`)
 *   when the capacity without it still covers the need and more than cold_workers idle workers
 *   would remain; the longest idle goes first.
 */
export const decide = (
  workers: ReadonlyArray<WorkerView>,
  waiting: ReadonlyArray<WaitingRequest>,
  params: EndpointParams,
  now: number
): ScalingDecision => {
  const live = workers.filter((worker) => worker.phase === "starting" || worker.phase === "ready")
  // A draining worker still holds its instance (max_workers counts it) until it stops.
  const serving = live.filter((worker) => !isDraining(worker))
  const errored = workers.filter((worker) => worker.phase === "errored").map((worker) => worker.id)
  const pressing = pressingRequests(waiting, serving, now)
  const demand = serving.reduce((sum, worker) => sum + load(worker), 0) + pressing.reduce((sum, request) => sum + request.cost, 0)
  const neededCapacity = Math.max(params.min_load, demand) / Math.max(params.target_util, 0.01)
  // A starting worker has not reported its capacity yet.
  const perfOf = (worker: WorkerView) => (worker.maxPerf > 0 ? worker.maxPerf : ASSUMED_PERF)
  const provisioned = serving.reduce((sum, worker) => sum + perfOf(worker), 0)
  // Every worker whose process may still run counts: an errored or stopping one drains for up to the launcher's
  // grace, and starting its replacement at once would run one past the cap (review 49 L1).
  const room = Math.max(0, params.max_workers - workers.length)

  let start = Math.min(room, Math.max(0, Math.ceil((neededCapacity - provisioned - 1e-9) / ASSUMED_PERF)))
  let startReason: ScalingDecision["startReason"] = "capacity"
  const starting = live.some((worker) => worker.phase === "starting")
  const overdue = pressing.some((request) => (now - request.since) / 1000 > params.target_queue_time)
  // Only when the request has nowhere to go: an idle routable worker will take it at its next poll.
  if (start === 0 && overdue && !starting && room > 0 && routeTarget(workers, params) === undefined) {
    start = 1
    startReason = "queue_time"
  }

  const stop: Array<number> = [...errored]
  if (params.inactivity_timeout > 0 && start === 0) {
    let capacity = provisioned
    const idle = serving
      .flatMap((worker) =>
        worker.phase === "ready" && load(worker) === 0 ? [{ worker, since: worker.idleSince ?? now }] : []
      )
      .sort((a, b) => a.since - b.since)
    let idleLeft = idle.length
    for (const { since, worker } of idle) {
      if (idleLeft <= params.cold_workers) break
      if ((now - since) / 1000 < params.inactivity_timeout) continue
      if (capacity - perfOf(worker) < neededCapacity) continue
      stop.push(worker.id)
      capacity -= perfOf(worker)
      idleLeft -= 1
    }
  }
  return { start, startReason, stop, neededCapacity }
}
