/**
 * Tells the autoscaler how occupied the worker is: `/worker_status/` (vast-protocol.md §5.2–§5.5) and
 * `/delete_requests/` (§5.6).
 *
 * Cadence: a change is reported as soon as it happens, but reports are at least `minSpacing` apart
 * (at most 4 a second by default); with no change, a heartbeat goes out every `heartbeat`. The
 * framework ticks once a second and does not report readiness or errors until its next heartbeat; we
 * report them at once. Interval counters are subtracted only after a report was accepted, so nothing
 * is lost while the autoscaler is unreachable.
 */
import { HttpClient } from "@effect/platform"
import { Clock, Duration, Effect, Layer, Redacted, Schema } from "effect"
import { WorkerConfig } from "../config/WorkerConfig.js"
import { diskUsedGib } from "./diskUsage.js"
import { LoadMetrics, type LoadSnapshot, MAX_PERF } from "./LoadMetrics.js"
import { type FailoverPolicy, framework, postWithFailover } from "./postWithFailover.js"
import { DeleteRequestsBody, PROTOCOL_VERSION, WorkerStatusBody } from "../../protocol/workerStatus.js"

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
  minSpacing: "250 millis",
  heartbeat: "10 seconds",
  deleteTick: "1 second",
  deleteBatch: 1000,
  failover: framework,
  finalReportTimeout: "3 seconds"
}

/** The framework skips this one address for `/delete_requests/` (vast-protocol.md §5.6). */
const SKIPPED_FOR_DELETIONS = "https://cloud.vast.ai/api/v0"

const encodeStatus = Schema.encodeSync(WorkerStatusBody)
const encodeDeletions = Schema.encodeSync(DeleteRequestsBody)

export const statusBody = (
  snapshot: LoadSnapshot,
  identity: { readonly id: number; readonly mtoken: string; readonly url: string },
  additionalDiskUsage: number
): WorkerStatusBody =>
  encodeStatus({
    id: identity.id,
    mtoken: identity.mtoken,
    version: PROTOCOL_VERSION,
    loadtime: snapshot.loadtime,
    cur_load: snapshot.curLoad,
    rej_load: snapshot.counters.rejected,
    new_load: Math.max(snapshot.counters.received - snapshot.counters.cancelled, 0),
    error_msg: snapshot.errorMsg,
    // Never advertise capacity before signed requests can be accepted.
    max_perf: snapshot.ready ? MAX_PERF : 0,
    cur_perf: snapshot.counters.served,
    cur_capacity: 0,
    max_capacity: 0,
    num_requests_working: snapshot.workingRequestIdxs.length,
    num_requests_recieved: snapshot.numRequestsRecieved,
    additional_disk_usage: additionalDiskUsage,
    working_request_idxs: snapshot.workingRequestIdxs,
    url: identity.url
  })

export const layer = (policy: ReportPolicy = defaultReportPolicy) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const config = yield* WorkerConfig
      const metrics = yield* LoadMetrics
      const client = yield* HttpClient.HttpClient
      const identity = { id: config.containerId, mtoken: Redacted.value(config.masterToken), url: config.workerUrl }
      const deletionAddrs = config.reportAddrs.filter((addr) => addr !== SKIPPED_FOR_DELETIONS)
      let lastDisk = yield* diskUsedGib

      const report = (failover: FailoverPolicy) =>
        Effect.gen(function* () {
          const snapshot = yield* metrics.snapshot
          const disk = yield* diskUsedGib
          const body = statusBody(snapshot, identity, disk - lastDisk)
          lastDisk = disk
          const accepted = yield* postWithFailover(client, config.reportAddrs, "/worker_status/", body, failover)
          if (accepted) yield* metrics.acknowledge(snapshot.counters)
          return accepted
        })

      const spacing = Duration.toMillis(Duration.decode(policy.minSpacing))
      const statusLoop = Effect.gen(function* () {
        // The first report waits for the first change (usually: ready) or `firstReport`, so a worker that
        // is ready quickly says so in its first report rather than a quarter second after it.
        yield* metrics.changed.pipe(Effect.timeoutOption(policy.firstReport))
        for (;;) {
          // Spacing counts from the start of a report, so a change waits at most `minSpacing`.
          const startedAt = yield* Clock.currentTimeMillis
          const accepted = yield* report(policy.failover)
          const spent = (yield* Clock.currentTimeMillis) - startedAt
          if (spent < spacing) yield* Effect.sleep(Duration.millis(spacing - spent))
          // After a failed report, try again at once; otherwise wait for a change or the heartbeat.
          if (accepted) yield* metrics.changed.pipe(Effect.timeoutOption(policy.heartbeat))
        }
      })

      const deletionLoop = Effect.gen(function* () {
        for (;;) {
          yield* Effect.sleep(policy.deleteTick)
          const batch = yield* metrics.pendingDeletions(policy.deleteBatch)
          if (batch.length === 0 || deletionAddrs.length === 0) continue
          const body = encodeDeletions({ worker_id: identity.id, mtoken: identity.mtoken, requests: batch })
          const accepted = yield* postWithFailover(client, deletionAddrs, "/delete_requests/", body, policy.failover)
          if (accepted) yield* metrics.deletionsDelivered(batch)
        }
      })

      const supervised = (name: string, loop: Effect.Effect<never>) =>
        loop.pipe(
          Effect.catchAllCause((cause) => Effect.logError(`${name} stopped`, cause)),
          Effect.forkScoped
        )
      yield* supervised("worker_status loop", statusLoop)
      yield* supervised("delete_requests loop", deletionLoop)
      // Runs after the slots closed on shutdown: the autoscaler learns the worker is empty.
      yield* Effect.addFinalizer(() =>
        // One quick try per address: shutdown must not wait out the retry delays.
        Effect.interruptible(report({ ...policy.failover, attempts: 1, retryDelay: 0 })).pipe(
          Effect.timeoutOption(policy.finalReportTimeout),
          Effect.asVoid
        )
      )
    })
  )
