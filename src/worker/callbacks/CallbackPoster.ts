/**
 * Delivery of `on_close_route` callbacks. `post` only queues: a slow or dead callback target never
 * delays `/session/end` or `/release` and never keeps a slot busy. Each delivery is retried on
 * network errors, timeouts, 5xx and 429, and given up on any other 4xx; its outcome is kept (bounded)
 * for `/debug`. On shutdown the outbox is drained for a bounded time.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Context, Data, Duration, Effect, FiberSet, Layer, Schedule } from "effect"
import type { CloseReason } from "../../../machines/slot.js"

export interface CloseCallback {
  readonly sessionId: string
  readonly route: string
  readonly body: Readonly<Record<string, unknown>>
  readonly reason: CloseReason
}

export type DeliveryState = "pending" | "delivered" | "failed"

export interface DeliveryRecord {
  readonly sessionId: string
  readonly route: string
  readonly reason: CloseReason
  readonly state: DeliveryState
  readonly attempts: number
  readonly lastStatus: number | null
  readonly lastError: string | null
  readonly queuedAt: number
  readonly finishedAt: number | null
}

export interface DeliveryPolicy {
  /** Time allowed for one attempt. */
  readonly attemptTimeout: Duration.DurationInput
  /** Retries after the first attempt. */
  readonly retries: number
  /** Delay before the first retry; each later delay doubles. */
  readonly firstRetryDelay: Duration.DurationInput
  /** How long shutdown waits for pending deliveries. */
  readonly drainTimeout: Duration.DurationInput
  /** Finished deliveries kept for `/debug`. */
  readonly history: number
}

/** 1 attempt + 5 retries after 1, 2, 4, 8, 16 s: a target that is down for about half a minute still gets it. */
export const defaultPolicy: DeliveryPolicy = {
  attemptTimeout: "10 seconds",
  retries: 5,
  firstRetryDelay: "1 second",
  drainTimeout: "5 seconds",
  history: 100
}

export class CallbackPoster extends Context.Tag("app/CallbackPoster")<
  CallbackPoster,
  {
    /** Queue a delivery; returns at once. */
    readonly post: (callback: CloseCallback) => Effect.Effect<void>
    /** Pending deliveries and the most recent finished ones, oldest first. */
    readonly deliveries: Effect.Effect<ReadonlyArray<DeliveryRecord>>
  }
>() {
  static readonly layer = (policy: DeliveryPolicy = defaultPolicy) => Layer.scoped(CallbackPoster, make(policy))
}

class AttemptFailed extends Data.TaggedError("AttemptFailed")<{
  readonly retryable: boolean
  readonly status: number | null
  readonly reason: string
}> {}

const isRetryableStatus = (status: number): boolean => status >= 500 || status === 429

const make = (policy: DeliveryPolicy) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const inFlight = yield* FiberSet.make()
    // Finalizers run uninterruptibly: the wait must be made interruptible for its timeout to end it.
    yield* Effect.addFinalizer(() =>
      Effect.interruptible(FiberSet.awaitEmpty(inFlight)).pipe(Effect.timeoutOption(policy.drainTimeout), Effect.asVoid)
    )

    // Newest last. Pending records are replaced in place when they finish.
    let records: Array<DeliveryRecord> = []
    const update = (queuedRecord: DeliveryRecord, next: DeliveryRecord) => {
      const index = records.indexOf(queuedRecord)
      if (index >= 0) records[index] = next
      const finished = records.filter((r) => r.state !== "pending")
      if (finished.length > policy.history) {
        const drop = new Set(finished.slice(0, finished.length - policy.history))
        records = records.filter((r) => !drop.has(r))
      }
      return next
    }

    const attempt = (callback: CloseCallback) =>
      HttpClientRequest.post(callback.route).pipe(
        HttpClientRequest.bodyUnsafeJson(callback.body),
        client.execute,
        Effect.scoped,
        Effect.timeoutFail({
          duration: policy.attemptTimeout,
          onTimeout: () => new AttemptFailed({ retryable: true, status: null, reason: "timed out" })
        }),
        Effect.catchTags({
          RequestError: (error) => Effect.fail(new AttemptFailed({ retryable: true, status: null, reason: error.message })),
          ResponseError: (error) => Effect.fail(new AttemptFailed({ retryable: true, status: null, reason: error.message }))
        }),
        Effect.flatMap((response) =>
          response.status < 400
            ? Effect.succeed(response.status)
            : Effect.fail(
                new AttemptFailed({
                  retryable: isRetryableStatus(response.status),
                  status: response.status,
                  reason: `status ${response.status}`
                })
              )
        )
      )

    const deliver = (callback: CloseCallback) =>
      Effect.gen(function* () {
        const queuedAt = yield* Clock.currentTimeMillis
        let record: DeliveryRecord = {
          sessionId: callback.sessionId,
          route: callback.route,
          reason: callback.reason,
          state: "pending",
          attempts: 0,
          lastStatus: null,
          lastError: null,
          queuedAt,
          finishedAt: null
        }
        records.push(record)
        const counted = Effect.suspend(() => {
          record = update(record, { ...record, attempts: record.attempts + 1 })
          return attempt(callback)
        }).pipe(
          Effect.tapError((error) =>
            Effect.sync(() => {
              record = update(record, { ...record, lastStatus: error.status, lastError: error.reason })
            })
          )
        )
        const outcome = yield* counted.pipe(
          Effect.retry({
            schedule: Schedule.exponential(policy.firstRetryDelay, 2),
            times: policy.retries,
            while: (error) => error.retryable
          }),
          Effect.either
        )
        const finishedAt = yield* Clock.currentTimeMillis
        if (outcome._tag === "Right") {
          record = update(record, { ...record, state: "delivered", lastStatus: outcome.right, lastError: null, finishedAt })
          yield* Effect.logDebug("on_close callback delivered")
        } else {
          record = update(record, { ...record, state: "failed", finishedAt })
          yield* Effect.logWarning(`on_close callback given up after ${record.attempts} attempt(s): ${outcome.left.reason}`)
        }
      }).pipe(
        Effect.annotateLogs({ sessionId: callback.sessionId, closeReason: callback.reason }),
        Effect.catchAllCause((cause) => Effect.logError("on_close delivery crashed", cause))
      )

    return CallbackPoster.of({
      // FiberSet forks inherit the caller's flags, and callers post from uninterruptible sections:
      // a delivery must stay interruptible so that its timeout and shutdown can stop it.
      post: (callback) => FiberSet.run(inFlight, Effect.interruptible(deliver(callback))).pipe(Effect.asVoid),
      deliveries: Effect.sync(() => records.slice())
    })
  })
