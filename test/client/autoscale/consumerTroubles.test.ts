/**
 * The consumer library's Redis troubles, against a fake stream (TestClock): a Redis that fails in two ways in turn
 * during one outage is said once per way, not at every try; once it answers, a new outage is said again.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Option, Ref, TestClock } from "effect"
import { type ConsumerEvent, runConsumer } from "../../../src/client/autoscale/consumer.js"
import { JobStream } from "../../../src/client/autoscale/JobStream.js"
import { RedisFailed } from "../../../src/client/autoscale/redis.js"
import { WorkerControl } from "../../../src/client/autoscale/WorkerControl.js"

const refused = new RedisFailed({ command: "XGROUP", detail: "connect ECONNREFUSED" })
const reset = new RedisFailed({ command: "XGROUP", detail: "read ECONNRESET" })

/** A stream whose `ensureGroup` answers each try with the next of `tries` (`null`: it succeeds). */
const fakeStream = (tries: Ref.Ref<ReadonlyArray<RedisFailed | null>>) =>
  Layer.succeed(
    JobStream,
    JobStream.of({
      ensureGroup: Effect.flatMap(Ref.modify(tries, ([next = null, ...rest]) => [next, rest] as const), (next) => (next === null ? Effect.void : Effect.fail(next))),
      claimStale: () => Effect.succeed(Option.none()),
      readNew: () => Effect.never,
      refresh: () => Effect.succeed(true),
      complete: () => Effect.succeed("stored" as const),
      isProtected: () => Effect.succeed(false),
      leave: Effect.void
    })
  )

/** A worker whose control server never answers a poll: the consumer waits to be reserved, quietly. */
const quietWorker = Layer.succeed(
  WorkerControl,
  WorkerControl.of({ sessions: () => Effect.never, release: () => Effect.never })
)

describe("the consumer's Redis troubles (fake stream)", () => {
  it.scoped("two reasons in turn during one outage: each said once; the consumer goes on once Redis answers", () =>
    Effect.gen(function* () {
      const tries = yield* Ref.make<ReadonlyArray<RedisFailed | null>>([refused, reset, refused, reset, refused, reset, null])
      const events: Array<ConsumerEvent> = []
      const consumer = yield* Effect.forkScoped(
        runConsumer(
          { idleGrace: Duration.seconds(1), claimMinIdle: Duration.seconds(1), block: Duration.millis(200), pollWait: 5 },
          () => Effect.succeed("done"),
          (event) => Effect.sync(() => void events.push(event))
        ).pipe(Effect.provide(Layer.merge(fakeStream(tries), quietWorker)))
      )
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(
        events.map((event) => (event.event === "error" ? [event.operation, event.message] : [event.event])),
        [
          ["create consumer group", refused.message],
          ["create consumer group", reset.message],
          ["waiting"]
        ]
      )
      assert.deepStrictEqual(yield* Ref.get(tries), [])
      yield* Fiber.interrupt(consumer)
    })
  )
})
