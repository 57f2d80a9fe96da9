import { Context, Effect, Layer, Ref } from "effect"
import { LoadMetrics } from "../../src/worker/autoscaler/LoadMetrics.js"
import { CallbackPoster, type CloseCallback } from "../../src/worker/callbacks/CallbackPoster.js"
import { WorkerConfig, type WorkerSettings } from "../../src/worker/config/WorkerConfig.js"
import { SlotPool } from "../../src/worker/slots/SlotPool.js"

/** What a recording `CallbackPoster` was handed, in order. */
export class PostedCallbacks extends Context.Tag("test/PostedCallbacks")<
  PostedCallbacks,
  Ref.Ref<ReadonlyArray<CloseCallback>>
>() {}

export const recordingCallbacks = Layer.effectContext(
  Effect.map(Ref.make<ReadonlyArray<CloseCallback>>([]), (posted) =>
    Context.make(PostedCallbacks, posted).pipe(
      Context.add(
        CallbackPoster,
        CallbackPoster.of({
          post: (callback) => Ref.update(posted, (all) => [...all, callback]),
          deliveries: Effect.succeed([])
        })
      )
    )
  )
)

export const testConfig = (settings: Partial<WorkerSettings> = {}) =>
  WorkerConfig.layer({ workerPort: 1, workerHttpPort: 2, controlPort: 3, ...settings })

/** A fresh pool with recorded callbacks. */
export const poolLayer = (settings: Partial<WorkerSettings> = {}) =>
  SlotPool.Default.pipe(
    Layer.provideMerge(recordingCallbacks),
    Layer.provideMerge(LoadMetrics.Default),
    Layer.provideMerge(testConfig(settings))
  )

export const posted = Effect.flatMap(PostedCallbacks, Ref.get)
