/**
 * The daemon's loop: find the endpoint, become the one daemon of this prefix, adopt what an earlier run
 * held, then every `interval` read the backlog, plan (planner.ts), start or cancel reservations, and
 * renew the `keep` lease that tells idle consumers which workers to hold on to.
 *
 * Nothing here ends a session. When the backlog cannot be read, nothing is started or cancelled and the
 * lease keeps what it kept; when the endpoint lookup or ownership cannot be had yet, it is retried with a
 * back-off (Vast, or Redis, being briefly down is not a reason to stop).
 */
import { Data, Duration, Effect } from "effect"
import { repeatedReason } from "../../shared/repeatedReason.js"
import { monotonicMillis } from "../../shared/monotonic.js"
import type { EndpointNotFound, RequestFailed, UnexpectedResponse } from "../errors.js"
import { type Endpoint, VastClient } from "../VastClient.js"
import { AutoscaleReporter } from "./AutoscaleReporter.js"
import { Backlog } from "./Backlog.js"
import type { AutoscaleEvent } from "./events.js"
import { Holdings } from "./Holdings.js"
import { initialPlannerState, plan, type PlannerSettings, type PlannerState } from "./planner.js"
import type { RedisFailed } from "./redis.js"
import type { BacklogReading } from "./scalingRule.js"
import { StateStore } from "./StateStore.js"

export interface AutoscalerSettings {
  readonly endpoint: string
  /** Shown in events: where the daemon's state lives. */
  readonly prefix: string
  readonly planner: PlannerSettings
  /** Time between two decisions. */
  readonly interval: Duration.DurationInput
  /** How long the `keep` lease lasts unless renewed: a dead daemon stops protecting idle workers after it. */
  readonly leaseMs: number
  /** How long ownership lasts unless renewed: a dead daemon's successor waits this long at most. */
  readonly ownerTtlMs: number
  /** This process's ownership token (random). */
  readonly token: string
}

/** Another daemon took this prefix over (this one stalled longer than the ownership lasts). */
export class OwnershipLost extends Data.TaggedError("OwnershipLost")<{ readonly prefix: string }> {
  override get message() {
    return `another daemon took over ${this.prefix}: stopping (this one stalled past its ownership)`
  }
}

/** The back-off before retry `n` (0-based) of a start-up step: 0.5, 1, 2, 4 … 30 s. */
const startupDelay = (n: number): Duration.Duration => Duration.millis(Math.min(30_000, 500 * 2 ** Math.min(n, 10)))

type ScaleEvent = Extract<AutoscaleEvent, { readonly event: "scale" }>
const sameDecision = (a: ScaleEvent, b: ScaleEvent): boolean =>
  a.waiting === b.waiting &&
  a.in_flight === b.in_flight &&
  a.desired === b.desired &&
  a.target === b.target &&
  a.held === b.held &&
  a.reserving === b.reserving &&
  a.draining === b.draining &&
  a.unreachable === b.unreachable &&
  a.start === b.start &&
  a.cancel === b.cancel &&
  a.limited === b.limited

export const runAutoscaler = (settings: AutoscalerSettings) =>
  Effect.gen(function* () {
    const client = yield* VastClient
    const backlog = yield* Backlog
    const store = yield* StateStore
    const holdings = yield* Holdings
    const reporter = yield* AutoscaleReporter
    const interval = Duration.decode(settings.interval)
    const { planner } = settings

    yield* reporter.emit({
      event: "started",
      endpoint: settings.endpoint,
      source: backlog.source,
      prefix: settings.prefix,
      min: planner.min,
      max: planner.max,
      jobs_per_worker: planner.jobsPerWorker,
      activation: planner.activation,
      cooldown: planner.cooldownMs / 1000
    })

    /** Retry `step` on the failures `retryable` accepts, reporting each, with a growing back-off. */
    const persist = <A, E extends { readonly message: string }>(operation: string, step: Effect.Effect<A, E>, retryable: (error: E) => boolean) =>
      Effect.gen(function* () {
        // Each reason is reported once while it lasts: a Redis or an autoscaler that is down for a minute is one line.
        const reasons = repeatedReason()
        for (let attempt = 0; ; attempt++) {
          const result = yield* Effect.either(step)
          if (result._tag === "Right") return result.right
          if (!retryable(result.left)) {
            // Said as an event, before the stop's own: a --json reader gets the reason in the stream.
            yield* reporter.emit({ event: "error", operation, message: result.left.message, fatal: true })
            return yield* Effect.fail(result.left)
          }
          // Said once per reason, so that it is clear the daemon is not stuck: it keeps trying.
          if (reasons.isNew(result.left.message)) yield* reporter.emit({ event: "error", operation, message: `${result.left.message} (trying again until it works)` })
          yield* Effect.sleep(startupDelay(attempt))
        }
      })

    const endpoint: Endpoint = yield* persist<Endpoint, EndpointNotFound | RequestFailed | UnexpectedResponse>(
      "endpoint lookup",
      client.findEndpoint(settings.endpoint),
      // A refused key (401, 403) is not fixed by asking again; nor is an endpoint that does not exist.
      (error) => error._tag !== "EndpointNotFound" && !(error._tag === "UnexpectedResponse" && (error.status === 401 || error.status === 403))
    )

    // Ownership: one daemon per prefix. A stopped daemon gives it up; a killed one's lapses after ownerTtlMs.
    let announced = false
    while (true) {
      const won = yield* persist<boolean, RedisFailed>("claim ownership", store.claimOwner(settings.token, settings.ownerTtlMs), () => true)
      if (won) break
      if (!announced) yield* reporter.emit({ event: "standby", prefix: settings.prefix })
      announced = true
      yield* Effect.sleep(interval)
    }

    const loaded = yield* persist("load state", store.load, () => true)
    for (const { reason, sessionId } of loaded.unreadable) {
      yield* reporter.emit({ event: "error", operation: "load state", message: `the record of session ${sessionId} could not be read (${reason}): dropped`, session_id: sessionId })
    }
    yield* holdings.adopt(loaded.records)

    // Adopted sessions count as desired at the restart: they keep the cool-down's protection, since a
    // restart says nothing about the backlog.
    const adopted = (yield* holdings.snapshot).open.filter((held) => !held.draining && !held.unreachable).length
    let state: PlannerState =
      adopted > 0 ? { ...initialPlannerState, recent: [{ at: yield* monotonicMillis, desired: adopted }] } : initialPlannerState
    let lastScale: ScaleEvent | null = null
    // One memory per operation: a Redis outage fails both in every tick, and each is said once while it lasts.
    const troubles = { "claim ownership": repeatedReason(), "read backlog": repeatedReason(), "publish keep lease": repeatedReason() }
    const reportOnce = (operation: keyof typeof troubles, message: string) =>
      troubles[operation].isNew(message) ? reporter.emit({ event: "error", operation, message }) : Effect.void

    while (true) {
      const owned = yield* Effect.either(store.claimOwner(settings.token, settings.ownerTtlMs))
      if (owned._tag === "Right" && !owned.right) return yield* new OwnershipLost({ prefix: settings.prefix })
      // Not knowing whether it still owns the reservations (another daemon may have taken over once its claim lapsed),
      // it acts as without a reading: it holds what it has, starts and cancels nothing, and publishes no keep set.
      let reading: BacklogReading | null = null
      if (owned._tag === "Left") {
        yield* reportOnce("claim ownership", `${owned.left.message} (holding what it has, starting nothing, until it can claim again)`)
      } else {
        troubles["claim ownership"].clear()
        const read = yield* Effect.either(backlog.read)
        if (read._tag === "Left") yield* reportOnce("read backlog", read.left.message)
        else {
          troubles["read backlog"].clear()
          reading = read.right
        }
      }
      const snapshot = yield* holdings.snapshot
      // The planner's windows (scale-out, cool-down, back-off) are spans of time: measured on the clock that never steps.
      const now = yield* monotonicMillis
      const [decision, next] = plan(
        state,
        {
          now,
          reading,
          open: snapshot.open,
          reserving: snapshot.reserving,
          failureStreak: snapshot.failureStreak,
          lastFailureAt: snapshot.lastFailureAt
        },
        planner
      )
      state = next
      const draining = snapshot.open.filter((held) => held.draining).length
      const unreachable = snapshot.open.filter((held) => !held.draining && held.unreachable).length
      const scale: ScaleEvent = {
        event: "scale",
        waiting: reading?.waiting ?? null,
        in_flight: reading?.inFlight ?? null,
        desired: decision.desired,
        target: decision.target,
        held: snapshot.open.length - draining - unreachable,
        reserving: snapshot.reserving,
        draining,
        unreachable,
        start: decision.start,
        cancel: decision.cancel,
        limited: decision.limited
      }
      if (lastScale === null || !sameDecision(lastScale, scale)) yield* reporter.emit(scale)
      lastScale = scale
      if (decision.start > 0) yield* holdings.start(endpoint, decision.start)
      if (decision.cancel > 0) yield* holdings.cancel(decision.cancel)
      // Not while the claim fails: a daemon that took over may be publishing its own.
      if (owned._tag === "Right") {
        const published = yield* Effect.either(store.publishKeep(decision.keep, settings.leaseMs))
        if (published._tag === "Left") yield* reportOnce("publish keep lease", published.left.message)
        else troubles["publish keep lease"].clear()
      }
      yield* Effect.sleep(interval)
    }
  }).pipe(
    Effect.ensuring(
      Effect.gen(function* () {
        const holdings = yield* Holdings
        const store = yield* StateStore
        yield* holdings.shutdown
        yield* Effect.ignore(store.releaseOwner(settings.token))
      })
    )
  )
