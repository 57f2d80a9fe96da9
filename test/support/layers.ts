/**
 * The test wirings, in one place: each service's `DefaultWithoutDependencies` over doubles where a test
 * needs one (a recording callback outbox, a fixed configuration, quiet logs).
 */
import { Context, Effect, Layer, Logger, LogLevel, Ref } from "effect"
import { LoadMetrics } from "../../src/worker/autoscaler/LoadMetrics.js"
import { CallbackPoster, type CloseCallback } from "../../src/worker/callbacks/CallbackPoster.js"
import { WorkerConfig, type WorkerSettings } from "../../src/worker/config/WorkerConfig.js"
import { WorkerMetrics } from "../../src/worker/metrics/WorkerMetrics.js"
import { SlotPool } from "../../src/worker/slots/SlotPool.js"

/** What a recording `CallbackPoster` was handed, in order. */
export class PostedCallbacks extends Context.Tag("test/PostedCallbacks")<PostedCallbacks, Ref.Ref<ReadonlyArray<CloseCallback>>>() {}

/**
 * A `CallbackPoster` that records what it is handed and sends nothing. Recorded callbacks count as pending
 * against `maxPending`, unless `instant` (as if each were delivered at once). `onDrain`: what its drain at shutdown does
 * (nothing by default).
 */
export const recordingCallbacks = ({
  instant = false,
  maxPending = 1000,
  onDrain = Effect.void,
  throwsOnce = false
}: {
  readonly maxPending?: number
  readonly instant?: boolean
  readonly onDrain?: Effect.Effect<void>
  /** The first callback handed over throws instead (a bug on the close's path). */
  readonly throwsOnce?: boolean
} = {}) =>
  Layer.effectContext(
    Effect.map(Ref.make<ReadonlyArray<CloseCallback>>([]), (posted) => {
      let pending = 0
      let throwing = throwsOnce
      // Synchronous, as the pool calls it inside its one step.
      const record = (callback: CloseCallback) => {
        if (throwing) {
          throwing = false
          throw new TypeError("a bug in the outbox")
        }
        if (!instant) pending++
        Effect.runSync(Ref.update(posted, (all) => [...all, callback]))
      }
      return Context.make(PostedCallbacks, posted).pipe(
        Context.add(
          CallbackPoster,
          CallbackPoster.make({
            unsafeEnqueue: record,
            post: (callback) => Effect.sync(() => record(callback)),
            unsafeFullness: (extra) => (pending + extra <= maxPending ? null : `${maxPending} callbacks`),
            unsafeRefusedAtCap: () => undefined,
            deliveries: Effect.succeed([]),
            stats: Effect.succeed({ pending, inFlight: 0, delivered: 0, failed: 0, refusedAtCap: 0, maxPending, concurrency: 1 }),
            drain: () => onDrain
          })
        )
      )
    })
  )

export const testConfig = (settings: Partial<WorkerSettings> = {}) =>
  WorkerConfig.layer({ workerPort: 1, workerHttpPort: 2, controlPort: 3, ...settings })

/** A fresh pool over a recording outbox and fresh load metrics. */
export const poolLayer = (settings: Partial<WorkerSettings> = {}, options: { readonly maxPending?: number; readonly throwsOnce?: boolean } = {}) =>
  SlotPool.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(recordingCallbacks({ ...(options.maxPending === undefined ? {} : { maxPending: options.maxPending }), throwsOnce: options.throwsOnce === true })),
    Layer.provideMerge(Layer.merge(LoadMetrics.Default, WorkerMetrics.Default)),
    Layer.provideMerge(testConfig(settings))
  )

export const posted = Effect.flatMap(PostedCallbacks, Ref.get)

/** Logs below errors are dropped: test output stays readable. */
export const quietLogs = Logger.minimumLogLevel(LogLevel.Error)
