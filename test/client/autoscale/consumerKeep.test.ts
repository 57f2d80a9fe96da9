/**
 * The consumer library and the daemon's keep lease, against a fake stream and a fake worker (TestClock): idle past
 * its grace while the lease protects its session, the consumer keeps its worker and says so once for the idle spell;
 * once the lease no longer protects it, it releases its worker by session id. A job, or a failed read of the queue, between
 * two spells starts a new one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Option, Ref, Stream, SubscriptionRef, TestClock } from "effect"
import { type ConsumerEvent, runConsumer } from "../../../src/client/autoscale/consumer.js"
import { JobStream, type StreamJob } from "../../../src/client/autoscale/JobStream.js"
import { RedisFailed } from "../../../src/client/autoscale/redis.js"
import { WorkerControl } from "../../../src/client/autoscale/WorkerControl.js"
import type { SessionsAnswer } from "../../../src/protocol/control.js"

const reserved: SessionsAnswer = {
  sessions: [{ session_id: "s-1", generation: 4, created_at: 0, expires_at: 60, cost: 100, request_idx: 1 }],
  draining: false,
  index: 1
}

const settings = { idleGrace: Duration.seconds(1), claimMinIdle: Duration.seconds(60), block: Duration.millis(200), pollWait: 5 }

/** What the consumer said, without the times that vary with the schedule. */
const said = (events: ReadonlyArray<ConsumerEvent>) =>
  events.map((event) => (event.event === "kept" || event.event === "released" ? `${event.event} ${event.session_id}/${event.generation}` : event.event))

const setUp = Effect.gen(function* () {
  const isProtected = yield* Ref.make(true)
  const lookedAt = yield* Ref.make(0)
  const jobs = yield* Ref.make<ReadonlyArray<StreamJob>>([])
  const released = yield* Ref.make<ReadonlyArray<string>>([])
  const failNextRead = yield* Ref.make(false)
  // What GET /sessions shows: a long poll naming an index waits for an answer with another.
  const shown = yield* SubscriptionRef.make(reserved)
  const stream = Layer.succeed(
    JobStream,
    JobStream.of({
      ensureGroup: Effect.void,
      claimStale: () => Effect.succeed(Option.none()),
      // An empty queue blocks for the whole wait, as XREADGROUP does.
      readNew: (block) =>
        Effect.flatMap(Ref.getAndSet(failNextRead, false), (fail) =>
          fail
            ? Effect.fail(new RedisFailed({ command: "XREADGROUP", detail: "read ECONNRESET" }))
            : Effect.flatMap(Ref.modify(jobs, ([next, ...rest]) => [next, rest] as const), (next) =>
                next === undefined ? Effect.as(Effect.sleep(block), Option.none()) : Effect.succeed(Option.some(next)))),
      refresh: () => Effect.succeed(true),
      complete: () => Effect.succeed("stored" as const),
      isProtected: () => Effect.zipRight(Ref.update(lookedAt, (n) => n + 1), Ref.get(isProtected)),
      leave: Effect.void
    })
  )
  const control = Layer.succeed(
    WorkerControl,
    WorkerControl.of({
      sessions: (index) =>
        Option.isNone(index)
          ? SubscriptionRef.get(shown)
          : Effect.map(Stream.runHead(Stream.filter(shown.changes, (answer) => answer.index !== index.value)), Option.getOrThrow),
      release: (sessionId) => Effect.as(Ref.update(released, (all) => [...all, sessionId]), "released" as const)
    })
  )
  const events: Array<ConsumerEvent> = []
  const consumer = yield* Effect.forkScoped(
    runConsumer(settings, () => Effect.succeed("done"), (event) => Effect.sync(() => void events.push(event))).pipe(
      Effect.provide(Layer.merge(stream, control))
    )
  )
  return { isProtected, lookedAt, jobs, released, failNextRead, shown, events, consumer }
})

describe("the consumer and the keep lease (fake stream and worker)", () => {
  it.scoped("kept past its grace: said once however many looks kept it; released by session id once the lease lets go", () =>
    Effect.gen(function* () {
      const { consumer, events, isProtected, lookedAt, released } = yield* setUp
      yield* TestClock.adjust("10 seconds")
      assert.isAbove(yield* Ref.get(lookedAt), 10)
      assert.deepStrictEqual(said(events), ["waiting", "reserved", "kept s-1/4"])
      assert.deepStrictEqual(yield* Ref.get(released), [])
      yield* Ref.set(isProtected, false)
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(said(events), ["waiting", "reserved", "kept s-1/4", "released s-1/4"])
      assert.deepStrictEqual(yield* Ref.get(released), ["s-1"])
      yield* Fiber.interrupt(consumer)
    })
  )

  it.scoped("its worker restarted under it, the new process's reservation of the same generation is not taken for its own: its session is seen closed, and only the new one's idle grace releases it, by its id", () =>
    Effect.gen(function* () {
      const { consumer, events, isProtected, released, shown } = yield* setUp
      yield* TestClock.adjust("3 seconds")
      assert.deepStrictEqual(said(events), ["waiting", "reserved", "kept s-1/4"])
      // A new worker process on the same ports numbers its sessions from 1 again: here its fourth has generation 4 too.
      yield* SubscriptionRef.set(shown, { ...reserved, sessions: [{ ...reserved.sessions[0]!, session_id: "s-9", created_at: 3 }], index: 2 })
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(said(events).slice(3, 6), ["session-closed", "waiting", "reserved"])
      assert.deepStrictEqual(yield* Ref.get(released), [])
      yield* Ref.set(isProtected, false)
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual(yield* Ref.get(released), ["s-9"])
      assert.strictEqual(said(events).at(-1), "released s-9/4")
      yield* Fiber.interrupt(consumer)
    })
  )

  it.scoped("a Redis read that failed starts the idle spell again: its keep is said again", () =>
    Effect.gen(function* () {
      const { consumer, events, failNextRead } = yield* setUp
      yield* TestClock.adjust("5 seconds")
      yield* Ref.set(failNextRead, true)
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(said(events), ["waiting", "reserved", "kept s-1/4", "error", "kept s-1/4"])
      yield* Fiber.interrupt(consumer)
    })
  )

  it.scoped("a job between two idle spells: each spell's keep is said", () =>
    Effect.gen(function* () {
      const { consumer, events, jobs } = yield* setUp
      yield* TestClock.adjust("5 seconds")
      yield* Ref.set(jobs, [{ id: "1-0", key: "job-1", fields: { job_id: "job-1" }, reclaimed: false }])
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(said(events), ["waiting", "reserved", "kept s-1/4", "job-started", "job-done", "kept s-1/4"])
      yield* Fiber.interrupt(consumer)
    })
  )
})
