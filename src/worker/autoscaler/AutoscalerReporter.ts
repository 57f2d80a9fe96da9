/**
 * Tells the autoscaler how occupied the worker is: `/worker_status/` (vast-protocol.md §5.2–§5.5) and
 * `/delete_requests/` (§5.6).
 *
 * Cadence: a change is reported as soon as it happens, but reports are at least `minSpacing` apart (at
 * most 4 a second by default); with no change, a heartbeat goes out every `heartbeat`. The framework ticks
 * once a second and does not report readiness or errors until its next heartbeat; we report them at once.
 * Interval counters are subtracted only after a report was accepted, so nothing is lost while the
 * autoscaler is unreachable. Every tick sends all pending `/delete_requests/` records, in batches.
 */
import { Duration, Effect, Fiber, Layer, LogLevel, Option, Redacted } from "effect"
import { monotonicMillis } from "../../shared/monotonic.js"
import { deleteRequestsJson, HEARTBEAT_SECONDS, REPORT_SPACING_MS, statusBody, type WorkerIdentity, type WorkerStatusBody } from "../../protocol/workerStatus.js"
import { redactUrl } from "../../shared/redactUrl.js"
import { describeRestart, restartOnDefect } from "../../shared/restartOnDefect.js"
import { makeThrottledLog } from "../../shared/throttledLog.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import { WorkerMetrics } from "../metrics/WorkerMetrics.js"
import { autoscalerUrl } from "./autoscalerUrl.js"
import { diskUsedGib } from "./diskUsage.js"
import { AutoscalerPost } from "./jsonPost.js"
import { LoadMetrics, type LoadSnapshot } from "./LoadMetrics.js"
import { type FailoverPolicy, framework, makeAddressCooldown, type PostOutcome, postLatestWithFailover } from "./postWithFailover.js"

export interface ReportPolicy {
  /** The longest wait for the first report (the framework's first tick is 1 s after start). */
  readonly firstReport: Duration.DurationInput
  readonly minSpacing: Duration.DurationInput
  readonly heartbeat: Duration.DurationInput
  readonly deleteTick: Duration.DurationInput
  readonly deleteBatch: number
  readonly failover: FailoverPolicy
  /** Time allowed for the last report on shutdown. */
  readonly finalReportTimeout: Duration.DurationInput
}

export const defaultReportPolicy: ReportPolicy = {
  firstReport: "1 second",
  minSpacing: Duration.millis(REPORT_SPACING_MS),
  heartbeat: Duration.seconds(HEARTBEAT_SECONDS),
  deleteTick: "1 second",
  // Under a flood of 429s a second's refusals fit one post, as the framework sends one snapshot a tick: fewer,
  // larger posts cost less per record (docs/performance.md).
  deleteBatch: 10_000,
  failover: framework,
  finalReportTimeout: "3 seconds"
}

/** The framework skips this one address for `/delete_requests/` (vast-protocol.md §5.6). */
const SKIPPED_FOR_DELETIONS = "https://cloud.vast.ai/api/v0"

/** How long a report loop that died of a bug waits before it starts again: one that dies at once does not spin. */
const LOOP_RESTART_PAUSE = Duration.seconds(1)

export interface ReportStats {
  readonly accepted: number
  readonly refused: number
  /** Seconds each accepted or refused `/worker_status/` took, newest last (bounded). */
  readonly recentSeconds: ReadonlyArray<number>
}

const bodyFor = (snapshot: LoadSnapshot, identity: WorkerIdentity, additionalDiskUsage: number): WorkerStatusBody =>
  statusBody(identity, {
    loadtime: snapshot.loadtime,
    curLoad: snapshot.curLoad,
    rejected: snapshot.counters.rejected,
    received: snapshot.counters.received,
    cancelled: snapshot.counters.cancelled,
    served: snapshot.counters.served,
    errorMsg: snapshot.errorMsg,
    ready: snapshot.ready,
    takingNoSession: snapshot.takingNoSession,
    workingRequestIdxs: snapshot.workingRequestIdxs,
    numRequestsRecieved: snapshot.numRequestsRecieved,
    additionalDiskUsage
  })

const make = (policy: ReportPolicy) =>
  Effect.gen(function* () {
    const config = yield* WorkerConfig
    const metrics = yield* LoadMetrics
    const post = yield* AutoscalerPost
    const prometheus = yield* WorkerMetrics
    const identity: WorkerIdentity = { id: config.containerId, mtoken: Redacted.value(config.masterToken), url: config.workerUrl }
    const deletionAddrs = config.reportAddrs.filter((addr) => addr !== SKIPPED_FOR_DELETIONS)
    const throttled = makeThrottledLog()
    let lastDisk = yield* diskUsedGib
    let accepted = 0
    let refused = 0
    let recentSeconds: Array<number> = []

    const note = (path: "/worker_status/" | "/delete_requests/", outcome: PostOutcome) => {
      if (outcome._tag === "Refused") return throttled.log(LogLevel.Warning, path, `autoscaler did not accept ${path}`, { causes: outcome.causes.join("; ") })
      if (outcome.causes.length === 0) return throttled.reset(path)
      // Accepted after failures: the failing address (a hung first REPORT_ADDR) would otherwise go unseen.
      prometheus.failover(path)
      return Effect.zipRight(
        throttled.reset(path),
        throttled.log(LogLevel.Warning, `${path} failover`, `autoscaler accepted ${path} at ${redactUrl(autoscalerUrl(outcome.addr, path))} after failed attempts`, {
          causes: outcome.causes.join("; ")
        })
      )
    }

    // One attempt at a time, its acknowledgment included: two bodies made from the same unacknowledged counters (the
    // loop's and the last report at shutdown) would both be accepted, and the autoscaler would count that work twice.
    // Between attempts (a retry's pause) the lock is free, so the last report never waits out a retry.
    const reporting = yield* Effect.makeSemaphore(1)
    const deleting = yield* Effect.makeSemaphore(1)
    const unlocked = <X>(attempt: Effect.Effect<X>): Effect.Effect<X> => attempt
    /** Set when the last report begins: a loop starts no attempt after it (it waits to be stopped instead). */
    let stopping = false
    // Checked before the lock is taken: Effect's semaphore is not fair, and a loop going straight on to its next
    // attempt (the next `/delete_requests/` batch) would take it again before the last report, waiting, ever could.
    const loopAttempt = (lock: Effect.Semaphore) => <X>(attempt: Effect.Effect<X>): Effect.Effect<X> =>
      Effect.suspend(() => (stopping ? Effect.never : lock.withPermits(1)(attempt)))
    const reportCooldown = makeAddressCooldown()
    const deletionCooldown = makeAddressCooldown()

    const reportOnce = (failover: FailoverPolicy, around: <X>(attempt: Effect.Effect<X>) => Effect.Effect<X>, deadline?: number) =>
      Effect.gen(function* () {
        const startedAt = yield* monotonicMillis
        // Made again for each attempt: the autoscaler gets the load as it is when it answers, and the counters of the
        // body it accepted are the ones acknowledged. `additional_disk_usage` is the change since the previous attempt.
        const build = Effect.gen(function* () {
          const snapshot = yield* metrics.snapshot
          const disk = yield* diskUsedGib
          const body = bodyFor(snapshot, identity, disk - lastDisk)
          lastDisk = disk
          return { json: JSON.stringify(body), value: snapshot.counters }
        })
        const outcome = yield* postLatestWithFailover(post, config.reportAddrs, "/worker_status/", build, failover, {
          around,
          cooldown: reportCooldown,
          onAccepted: (counters) => metrics.acknowledge(counters),
          ...(deadline === undefined ? {} : { deadline })
        })
        const seconds = ((yield* monotonicMillis) - startedAt) / 1000
        if (outcome._tag === "Accepted") accepted++
        else refused++
        prometheus.report(outcome._tag === "Accepted" ? "accepted" : "refused", seconds)
        recentSeconds.push(seconds)
        if (recentSeconds.length > 1000) recentSeconds = recentSeconds.slice(-1000)
        yield* note("/worker_status/", outcome)
        return outcome._tag === "Accepted"
      })

    const spacing = Duration.toMillis(Duration.decode(policy.minSpacing))
    const statusLoop = Effect.gen(function* () {
      // The first report waits for the first change (usually: ready) or `firstReport`, so a worker that is
      // ready quickly says so in its first report rather than a quarter second after it.
      yield* metrics.changed.pipe(Effect.timeoutOption(policy.firstReport))
      for (;;) {
        // Spacing counts from the start of a report, so a change waits at most `minSpacing`.
        const startedAt = yield* monotonicMillis
        const wasAccepted = yield* reportOnce(policy.failover, loopAttempt(reporting))
        const spent = (yield* monotonicMillis) - startedAt
        if (spent < spacing) yield* Effect.sleep(Duration.millis(spacing - spent))
        // After a failed report, try again at once; otherwise wait for a change or the heartbeat.
        if (wasAccepted) yield* metrics.changed.pipe(Effect.timeoutOption(policy.heartbeat))
      }
    })

    /** Records per `/delete_requests/` post: `policy.deleteBatch`, halved each time the autoscaler answers `413`. */
    let deleteBatch = policy.deleteBatch
    /**
     * What was pending when the tick began, in batches; stops at the first batch the autoscaler refuses
     * (kept for the next tick). Records that arrive meanwhile wait for the next tick: under a flood of 429s
     * the loop would otherwise post a tiny batch after every post, without pause.
     */
    const sendDeletionsOnce = (failover: FailoverPolicy, around: <X>(attempt: Effect.Effect<X>) => Effect.Effect<X>, deadline?: number) => Effect.gen(function* () {
      if (deletionAddrs.length === 0) return
      const backlog = yield* metrics.deletionBacklog
      let records = backlog.finished + backlog.refusals
      while (records > 0) {
        const batch = yield* metrics.pendingDeletions(Math.min(deleteBatch, records))
        if (batch.size === 0) return
        records -= batch.size
        // The records come as JSON text (LoadMetrics keeps them as numbers): thousands of them each tick.
        const json = deleteRequestsJson(identity, batch.requestsJson)
        const outcome = yield* postLatestWithFailover(post, deletionAddrs, "/delete_requests/", Effect.succeed({ json, value: batch }), failover, {
          around,
          cooldown: deletionCooldown,
          onAccepted: (delivered) => metrics.deletionsDelivered(delivered),
          ...(deadline === undefined ? {} : { deadline })
        })
        yield* note("/delete_requests/", outcome)
        if (outcome._tag === "Refused" && outcome.tooLarge && batch.size > 1) {
          // An autoscaler with a body limit (the batch after an outage is megabytes): halve the batch, send it at once,
          // and keep the smaller size, rather than offering the same refused batch every tick for ever.
          deleteBatch = Math.max(1, Math.floor(batch.size / 2))
          records += batch.size
          yield* Effect.logWarning("/delete_requests/: the autoscaler refused a batch as too large (413); sending smaller ones", { records: batch.size, now_at_most: deleteBatch })
          continue
        }
        if (outcome._tag === "Refused") return
      }
    })
    const deletionLoop = Effect.forever(Effect.zipRight(Effect.sleep(policy.deleteTick), sendDeletionsOnce(policy.failover, loopAttempt(deleting))))

    // A bug in a loop must not silence the worker for the rest of its life (review 54 L1): started again, as the
    // slots' timers and the health loop are.
    const supervised = (name: string, loop: Effect.Effect<never>) =>
      restartOnDefect(loop, LOOP_RESTART_PAUSE, (cause, restart) => Effect.logError(`${name} crashed; ${describeRestart(restart)}`, cause)).pipe(Effect.forkScoped)
    const statusFiber = yield* supervised("worker_status loop", statusLoop)
    const deletionFiber = yield* supervised("delete_requests loop", deletionLoop)

    let finalSent = false
    // The process is about to exit: what the autoscaler did not get now, it never will (its own records of the work stay).
    // Records that no address is for (only the one the framework skips) are not lost: they were never to be sent. A
    // worker that never got ready (a failed launch, a stop during start-up) had no state of its own to tell: its
    // launch failure, if any, is reported on its own.
    const sayWhatWasLost = (finalAccepted: boolean) =>
      Effect.gen(function* () {
        const backlog = yield* metrics.deletionBacklog
        const records = deletionAddrs.length === 0 ? 0 : backlog.finished + backlog.refusals
        // Closes' records dropped at the cap were lost earlier, without a word: said here too (review 49 I2).
        const dropped = deletionAddrs.length === 0 ? 0 : backlog.droppedFinished
        if (records === 0 && dropped === 0 && (finalAccepted || !(yield* metrics.snapshot).ready)) return
        yield* Effect.logWarning("shutdown: the autoscaler did not get everything before exit", {
          last_worker_status: finalAccepted ? "accepted" : "not accepted",
          delete_requests_records_not_sent: records,
          ...(dropped > 0 ? { delete_requests_finished_records_dropped: dropped } : {})
        })
      })
    /**
     * The last report and the pending `/delete_requests/`, side by side, within `finalReportTimeout`. Each first stops
     * its loop: the loop starts no new attempt, and one in flight is waited for (not a retry's pause), so that nothing
     * is sent after the last report and no counter goes out twice; but for a third of the time at most: an attempt
     * still unanswered then (a hung address) is stopped, and its address goes last. Then one quick try per address
     * (shutdown must not wait out retry delays), each with an equal share of the time left among the addresses not
     * given up (`deadline` in `postLatestWithFailover`). What did not get through is said once, at the end.
     */
    const finalReport = Effect.suspend(() => {
      if (finalSent) return Effect.void
      finalSent = true
      stopping = true
      const timeoutMs = Duration.toMillis(Duration.decode(policy.finalReportTimeout))
      const quick: FailoverPolicy = { ...policy.failover, attempts: 1, retryDelay: 0 }
      return Effect.gen(function* () {
        const deadline = (yield* monotonicMillis) + timeoutMs
        const stopLoop = (lock: Effect.Semaphore, fiber: Fiber.RuntimeFiber<unknown, unknown>) =>
          lock.withPermits(1)(Fiber.interrupt(fiber)).pipe(
            Effect.timeoutOption(Duration.millis(timeoutMs / 3)),
            // Stopped even if the lock never came: the attempt in flight is interrupted.
            Effect.zipRight(Fiber.interrupt(fiber))
          )
        const [accepted] = yield* Effect.all(
          [
            Effect.zipRight(stopLoop(reporting, statusFiber), reporting.withPermits(1)(reportOnce(quick, unlocked, deadline))),
            Effect.zipRight(stopLoop(deleting, deletionFiber), deleting.withPermits(1)(sendDeletionsOnce(quick, unlocked, deadline)))
          ],
          { concurrency: 2 }
        )
        return accepted
      }).pipe(
        Effect.interruptible,
        Effect.timeoutOption(policy.finalReportTimeout),
        Effect.flatMap((accepted) => sayWhatWasLost(Option.getOrElse(accepted, () => false)))
      )
    })
    // A safety net: the shutdown sequence sends it after the last close; this catches an early exit.
    yield* Effect.addFinalizer(() => finalReport)

    return {
      finalReport,
      stats: Effect.sync((): ReportStats => ({ accepted, refused, recentSeconds: recentSeconds.slice() }))
    }
  })

export class AutoscalerReporter extends Effect.Service<AutoscalerReporter>()("worker/AutoscalerReporter", {
  scoped: make(defaultReportPolicy),
  dependencies: [LoadMetrics.Default, WorkerMetrics.Default, AutoscalerPost.node]
}) {
  /** The reporter with another cadence (tests). */
  static readonly layerWith = (policy: Partial<ReportPolicy>) =>
    Layer.scoped(
      AutoscalerReporter,
      Effect.map(make({ ...defaultReportPolicy, ...policy }), (service) => AutoscalerReporter.make(service))
    ).pipe(Layer.provide(Layer.merge(LoadMetrics.Default, WorkerMetrics.Default)))
}
