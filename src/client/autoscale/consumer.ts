/**
 * The consumer beside a null worker, for queue-depth autoscaling: it works only while its worker is
 * reserved, pulls jobs from the shared stream one at a time, and gives its worker back when it runs out
 * of work.
 *
 * - It learns that it is reserved from the worker's control port, a long poll of `GET /sessions`: no
 *   polling loop, and a change (a session opened or closed, draining) is seen at once.
 * - While reserved it first re-claims a crashed consumer's job (pending longer than `claimMinIdle`), else
 *   reads a new one (`XREADGROUP`, blocking at most `block`). The result is stored and the entry
 *   acknowledged in one script (JobStream.ts).
 * - Told to drain (`draining: true`), or finding its session closed, it takes no new job; the job in
 *   hand is finished and acknowledged.
 * - Having found no job for `idleGrace`, it releases its worker (`POST /release` with its session's
 *   id, which a restarted worker process never reuses, as it does generations), unless the daemon's keep lease protects its session (said once, as `kept`). It is the
 *   one process that knows it is not mid-job, which is why it, not the daemon, ends reservations
 *   (docs/autoscale.md).
 * - When Redis fails, it counts no idle time (it cannot know the queue is empty) and retries.
 */
import { Duration, Effect, Option, Schedule, Stream, SubscriptionRef } from "effect"
import { repeatedReason } from "../../shared/repeatedReason.js"
import { monotonicMillis } from "../../shared/monotonic.js"
import type { SessionsAnswer, SessionView } from "../../protocol/control.js"
import { type CompleteOutcome, JobStream, type StreamJob } from "./JobStream.js"
import { watchSessions } from "./watchSessions.js"
import { type ReleaseOutcome, WorkerControl } from "./WorkerControl.js"

export interface ConsumerSettings {
  /** No job for this long, and not protected: release the worker. */
  readonly idleGrace: Duration.Duration
  /** A job pending this long with a consumer that does not refresh it is taken over. */
  readonly claimMinIdle: Duration.Duration
  /** The longest `XREADGROUP` wait: how soon a close or a drain is noticed between jobs. */
  readonly block: Duration.Duration
  /** Seconds of each long poll of `GET /sessions` (at most 300). */
  readonly pollWait: number
}

export type ConsumerEvent =
  | { readonly event: "waiting" }
  | { readonly event: "reserved"; readonly session_id: string; readonly generation: number }
  | { readonly event: "job-started"; readonly job: string; readonly id: string; readonly reclaimed: boolean }
  | { readonly event: "job-done"; readonly job: string; readonly id: string; readonly outcome: CompleteOutcome; readonly ms: number }
  | { readonly event: "job-failed"; readonly job: string; readonly id: string; readonly message: string }
  | { readonly event: "released"; readonly session_id: string; readonly generation: number; readonly outcome: ReleaseOutcome; readonly idle_ms: number }
  /** Idle past its grace, but the daemon's keep lease protects the session: said once per idle spell. */
  | { readonly event: "kept"; readonly session_id: string; readonly generation: number; readonly idle_ms: number }
  | { readonly event: "session-closed"; readonly session_id: string; readonly generation: number }
  | { readonly event: "draining"; readonly session_id: string; readonly generation: number }
  | { readonly event: "error"; readonly operation: string; readonly message: string }

/** The work on one job: its result (stored as is), or a failure (the job stays pending, and is retried). */
export type Handler = (job: StreamJob) => Effect.Effect<string, { readonly message: string }>

/** The session to serve in `answer`: the first one, unless the worker drains. */
const servable = (answer: Option.Option<SessionsAnswer>): Option.Option<SessionView> =>
  Option.flatMap(answer, (current) => (current.draining ? Option.none() : Option.fromNullable(current.sessions[0])))

/**
 * Serve reservations forever. Needs the worker's control port and the stream; runs the long poll in a
 * fiber of the caller's scope.
 */
export const runConsumer = (settings: ConsumerSettings, handler: Handler, onEvent: (event: ConsumerEvent) => Effect.Effect<void>) =>
  Effect.gen(function* () {
    const control = yield* WorkerControl
    const jobs = yield* JobStream
    const state = yield* SubscriptionRef.make<Option.Option<SessionsAnswer>>(Option.none())

    /** Keep `state` current (`watchSessions.ts`). */
    const watch = watchSessions(control, settings.pollWait, state, (message) => onEvent({ event: "error", operation: "watch sessions", message }))
    yield* Effect.forkScoped(watch)

    // Every reason said since Redis last answered: two calls that fail in turn during one outage are each said once.
    const troubles = repeatedReason()
    const redisTrouble = (operation: string, message: string) =>
      Effect.gen(function* () {
        if (troubles.isNew(`${operation}: ${message}`)) yield* onEvent({ event: "error", operation, message })
        yield* Effect.sleep("500 millis")
      })

    const refreshEvery = Duration.millis(Math.max(50, Duration.toMillis(settings.claimMinIdle) / 3))
    const work = (job: StreamJob) =>
      Effect.gen(function* () {
        yield* onEvent({ event: "job-started", job: job.key, id: job.id, reclaimed: job.reclaimed })
        const started = yield* monotonicMillis
        const result = yield* Effect.scoped(
          Effect.gen(function* () {
            // While we work, the entry's idle time keeps being reset: nobody re-claims a live consumer's job.
            yield* jobs.refresh(job).pipe(Effect.ignore, Effect.repeat(Schedule.spaced(refreshEvery)), Effect.delay(refreshEvery), Effect.forkScoped)
            return yield* Effect.either(handler(job))
          })
        )
        if (result._tag === "Left") {
          return yield* onEvent({ event: "job-failed", job: job.key, id: job.id, message: result.left.message })
        }
        // Until it is stored and acknowledged the job is not done: retry while a re-claim is still far off.
        const outcome = yield* jobs.complete(job, result.right).pipe(
          Effect.retry({ schedule: Schedule.exponential("100 millis").pipe(Schedule.upTo(settings.claimMinIdle)) }),
          Effect.either
        )
        if (outcome._tag === "Left") {
          return yield* onEvent({ event: "error", operation: "complete job", message: `${job.key}: ${outcome.left.message} (it stays pending and is re-claimed)` })
        }
        const ms = (yield* monotonicMillis) - started
        yield* onEvent({ event: "job-done", job: job.key, id: job.id, outcome: outcome.right, ms })
      })

    const nextJob = Effect.gen(function* () {
      const stale = yield* jobs.claimStale(settings.claimMinIdle)
      return Option.isSome(stale) ? stale : yield* jobs.readNew(settings.block)
    })

    /** Work for `session` until it closes, the worker drains, or the consumer releases it. */
    const serve = (session: SessionView) =>
      Effect.gen(function* () {
        const ids = { session_id: session.session_id, generation: session.generation }
        let idleSince = yield* monotonicMillis
        // Whether this idle spell's keep was said: a consumer that holds its worker past its grace says why, once.
        let keptSaid = false
        while (true) {
          const current = yield* SubscriptionRef.get(state)
          if (Option.isSome(current) && current.value.draining) return yield* onEvent({ event: "draining", ...ids })
          if (Option.isSome(current) && !current.value.sessions.some((open) => open.session_id === session.session_id)) {
            return yield* onEvent({ event: "session-closed", ...ids })
          }
          const job = yield* Effect.either(nextJob)
          if (job._tag === "Left") {
            yield* redisTrouble("read jobs", job.left.message)
            // Redis could not say the queue is empty: the idle spell starts again, and so does what it says.
            idleSince = yield* monotonicMillis
            keptSaid = false
            continue
          }
          troubles.clear()
          if (Option.isSome(job.right)) {
            yield* work(job.right.value)
            idleSince = yield* monotonicMillis
            keptSaid = false
            continue
          }
          const idleFor = (yield* monotonicMillis) - idleSince
          if (idleFor < Duration.toMillis(settings.idleGrace)) continue
          const kept = yield* Effect.either(jobs.isProtected(session.session_id))
          if (kept._tag === "Left") {
            yield* redisTrouble("read keep lease", kept.left.message)
            continue
          }
          if (kept.right) {
            if (!keptSaid) yield* onEvent({ event: "kept", ...ids, idle_ms: idleFor })
            keptSaid = true
            continue
          }
          const released = yield* Effect.either(control.release(session.session_id))
          if (released._tag === "Left") {
            yield* onEvent({ event: "error", operation: "release", message: released.left.message })
            yield* Effect.sleep("500 millis")
            continue
          }
          return yield* onEvent({ event: "released", ...ids, outcome: released.right, idle_ms: idleFor })
        }
      })

    // Said once while it lasts, as every other Redis call's trouble: a wrong REDIS_URL must not be silence.
    for (;;) {
      const grouped = yield* Effect.either(jobs.ensureGroup)
      if (grouped._tag === "Right") break
      yield* redisTrouble("create consumer group", grouped.left.message)
    }
    troubles.clear()
    while (true) {
      yield* onEvent({ event: "waiting" })
      const session = yield* state.changes.pipe(Stream.filterMap(servable), Stream.runHead)
      if (Option.isNone(session)) continue
      yield* onEvent({ event: "reserved", session_id: session.value.session_id, generation: session.value.generation })
      yield* serve(session.value)
      // Wait for the worker to show the change (the release, the close) before looking for a session again.
      const served = session.value.session_id
      yield* state.changes.pipe(
        Stream.filter((answer) => Option.isSome(answer) && !answer.value.sessions.some((open) => open.session_id === served)),
        Stream.runHead
      )
    }
  })
