/**
 * The outbox of `on_close_route` callbacks. Queuing is synchronous and never waits: a slow or dead target
 * never delays `/session/end` or `/release` and never keeps a slot busy.
 *
 * Bounds, so that no target can make the worker lose a close or grow without limit:
 * - at most `CALLBACK_CONCURRENCY` attempts in flight; a quarter of them is kept for destinations (scheme, host and
 *   port) with nothing in flight, so one destination takes the rest at most, and a delivery waiting to be retried
 *   holds none: dead or hung receivers cannot keep other receivers' callbacks waiting, and one receiver alone still
 *   gets most of the slots. Each attempt has a timeout and its response is aborted once its status is known
 *   (the body is never read), so a response that never ends frees its socket with the attempt;
 * - at most `CALLBACK_MAX_PENDING` callbacks waiting, and `CALLBACK_MAX_PENDING_BYTES` of their text (bodies and routes); the pool
 *   reserves the most its callback can take before it opens a session with one (`unsafeFullness`,
 *   `keptCallbackLength` at `LONGEST_CLOSE`), so a session that was opened always has room for its callback, and at the cap a
 *   create gets 503 (logged, counted, shown in `/debug`) rather than a callback being dropped.
 *
 * Delivery: 2xx is delivered. 307/308 are followed (same method and body, at most `maxRedirects` hops, to
 * http(s) URLs only); other 3xx, 5xx, 429, a status below 100, timeouts and network errors are retried after about
 * 1, 2, 4, 8, 16 s (each spread by `jitter`); any other 4xx, a redirect elsewhere than http(s), and a destination that is the worker itself (refused by the
 * HTTP client, `callbackHttpClient.ts`) are final. A defect in one attempt fails that delivery; it never leaves
 * it pending. On shutdown the outbox gets `drainTimeout`; what is still pending is logged one line each (and
 * stays in the `OUTBOX_FILE` journal, when there is one, for the next process to send).
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Cause, Data, Deferred, Duration, Effect, Exit, FiberId, FiberSet, Layer, Option, Queue, Schedule } from "effect"
import { CALLBACK_USER_AGENT_PREFIX, type CloseReason } from "../../protocol/callback.js"
import { VERSION } from "../../shared/version.js"
import { retryNotices } from "../../shared/retryNotices.js"
import { transportCause } from "../../shared/errno.js"
import { describeCause } from "../../shared/causeLine.js"
import { makeThrottledLog } from "../../shared/throttledLog.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import { WorkerMetrics } from "../metrics/WorkerMetrics.js"
import { noteStartFailure } from "../lifecycle/startFailure.js"
import { type JournalDisk, nodeJournalDisk } from "./journal/journalDisk.js"
import type { JournalledCallback } from "./journal/journalLine.js"
import { type OutboxJournal, openJournal } from "./journal/OutboxJournal.js"
import { MAX_LEFTOVER_BYTES, replay } from "./journal/replay.js"
import { callbackHttpClient } from "./callbackHttpClient.js"
import { retryAfterMs } from "./retryAfter.js"
import { redactRoute } from "../../shared/redactUrl.js"
import { makeDestinationSlots } from "./destinationSlots.js"
import { SELF_TARGET_REASON, SELF_TARGET_REFUSED } from "./selfTarget.js"

const CALLBACK_USER_AGENT = `${CALLBACK_USER_AGENT_PREFIX}${VERSION}`

export interface CloseCallback {
  readonly sessionId: string
  readonly generation: number
  /** The `on_close_route`; kept secret beyond this service (it may carry credentials). */
  readonly route: string
  /** The JSON text to POST. */
  readonly body: string
  readonly reason: CloseReason
}

/**
 * `queued`: waiting for a free slot (a new delivery, or one whose back-off is over); `delivering`: an attempt is in
 * flight; `retrying`: the last attempt failed and the next one waits out its back-off, until `nextAttemptAt`.
 */
export type DeliveryState = "queued" | "delivering" | "retrying" | "delivered" | "failed"

export interface DeliveryRecord {
  readonly sessionId: string
  readonly generation: number
  /** The route without credentials or query string. */
  readonly route: string
  readonly reason: CloseReason
  readonly state: DeliveryState
  readonly attempts: number
  readonly lastStatus: number | null
  readonly lastError: string | null
  readonly queuedAt: number
  /** When a `retrying` delivery's next attempt is due; null in every other state. */
  readonly nextAttemptAt: number | null
  readonly finishedAt: number | null
  /** Sent again by this process after a previous one left it pending (`OUTBOX_FILE`). */
  readonly replayed: boolean
}

export interface OutboxStats {
  readonly pending: number
  /** Attempts in flight now (a delivery waiting out its back-off has none). */
  readonly inFlight: number
  readonly delivered: number
  readonly failed: number
  /** Creates refused because the outbox had no room. */
  readonly refusedAtCap: number
  readonly maxPending: number
  readonly concurrency: number
}

export interface DeliveryPolicy {
  /** Time allowed for one attempt (up to the response status). */
  readonly attemptTimeout: Duration.DurationInput
  /** Retries after the first attempt. */
  readonly retries: number
  /** Delay before the first retry; each later delay doubles. */
  readonly firstRetryDelay: Duration.DurationInput
  /**
   * Each wait is spread by up to this fraction either way (0.2: 0.8 to 1.2 of it, from Effect's `Random`): callbacks
   * whose attempts failed together (a receiver that cut every connection at once) do not all retry together.
   */
  readonly jitter: number
  /** 307/308 hops followed per attempt. */
  readonly maxRedirects: number
  /** How long shutdown waits for pending deliveries. */
  readonly drainTimeout: Duration.DurationInput
  /** Finished deliveries kept for `/debug`. */
  readonly history: number
  /** How the journal (`OUTBOX_FILE`) reaches the disk: Node's calls (tests make it a full disk). */
  readonly journalDisk: JournalDisk
}

/** 1 attempt + 5 retries after about 1, 2, 4, 8, 16 s: a target that is down for about half a minute still gets it. */
export const defaultPolicy: DeliveryPolicy = {
  attemptTimeout: "10 seconds",
  retries: 5,
  firstRetryDelay: "1 second",
  jitter: 0.2,
  maxRedirects: 3,
  drainTimeout: "5 seconds",
  history: 100,
  journalDisk: nodeJournalDisk
}

class AttemptFailed extends Data.TaggedError("AttemptFailed")<{
  readonly retryable: boolean
  readonly status: number | null
  readonly reason: string
  /** The wait the receiver asked for (`Retry-After` on a 429 or 503), bounded; null when it asked none. */
  readonly retryAfterMs?: number | null
}> {}

/** Pending callbacks logged one line each at exit when the journal keeps them all; the rest are counted in one line. */
export const EXIT_LINES_WHEN_JOURNALLED = 100

/**
 * A connection the client refused to open to the worker itself, a route that is not a URL (only a damaged journal
 * holds one: routes are checked at create) and a destination the system cannot connect to at all (`EINVAL`: a link-local
 * address with no zone, a host name past 253 characters; probe 53 I3) are final; other transport failures are retried.
 */
const transportFailure = (error: unknown): AttemptFailed => {
  const code = transportCause(error)
  if (code === SELF_TARGET_REFUSED) return new AttemptFailed({ retryable: false, status: null, reason: SELF_TARGET_REASON })
  if (code === "ERR_INVALID_URL") return new AttemptFailed({ retryable: false, status: null, reason: "the route is not a URL" })
  if (code === "EINVAL") return new AttemptFailed({ retryable: false, status: null, reason: "EINVAL: the system cannot connect to that destination" })
  return new AttemptFailed({ retryable: true, status: null, reason: code })
}

/** Where a route's first attempt goes (scheme, host and port): the key of the per-destination limit. */
const destinationOf = (route: string): string => (URL.canParse(route) ? new URL(route).origin : route)

/**
 * A status outside 100–599 (`000`, `999`) is a broken answer, retried like a 5xx. A `101` is final: the receiver took the
 * connection for another protocol, and each attempt would leave it one more socket held open.
 */
export const isRetryableStatus = (status: number): boolean =>
  status >= 500 || status === 429 || (status >= 300 && status < 400) || status < 100

/**
 * The session ids whose callbacks the journal at `file` holds pending now; `null` when it cannot be read back (not a
 * regular file, or past what a running worker reads). A missing file holds none.
 */
const heldInJournal = (file: string): ReadonlySet<string> | null => {
  try {
    return new Set(replay(file, MAX_LEFTOVER_BYTES).left.map((callback) => callback.session_id))
  } catch {
    return null
  }
}

interface Delivery {
  readonly callback: CloseCallback
  readonly destination: string
  record: DeliveryRecord
  /** Whether the journal holds it (replayed from it, or its line written): a full disk leaves it in memory only. */
  journalled: boolean
}

/**
 * What a pending callback counts against `CALLBACK_MAX_PENDING_BYTES`: its body's text and its route's, both kept
 * until it is delivered (probe 50 L1: routes of 8 KB, counted nowhere, held ~60 MiB past the budget at 1,000 pending).
 */
export const pendingLength = (callback: { readonly body: string; readonly route: string }): number => callback.body.length + callback.route.length

const make = (overrides: Partial<DeliveryPolicy>) =>
    Effect.gen(function* () {
      const policy: DeliveryPolicy = { ...defaultPolicy, ...overrides }
      const config = yield* WorkerConfig
      const prometheus = yield* WorkerMetrics
      const client = HttpClient.withScope(yield* HttpClient.HttpClient)
      const clock = yield* Effect.clock
      const random = yield* Effect.random
      const queue = yield* Queue.unbounded<Delivery>()
      const slots = makeDestinationSlots<Delivery>(config.callbackConcurrency)
      // Deliveries waiting out their back-off: fibers of their own, so that the wait holds no delivery slot.
      const backOffs = yield* FiberSet.make()

      const live = new Map<string, Delivery>()
      /** The characters of the bodies and routes in `live`: what `CALLBACK_MAX_PENDING_BYTES` bounds. */
      let liveLength = 0
      let finished: Array<DeliveryRecord> = []
      let delivered = 0
      let failed = 0
      let refusedAtCap = 0
      let idle = yield* Deferred.make<void>()
      yield* Deferred.succeed(idle, undefined)

      let journal: OutboxJournal | null = null
      /** Where the journal is written (`OUTBOX_FILE` as it led when opened), if there is one. */
      let journalFile: string | null = null
      let replayedFromJournal: ReadonlyArray<JournalledCallback> = []
      if (Option.isSome(config.outboxFile)) {
        const file = config.outboxFile.value
        // A failed append comes from synchronous code (the pool's step, a delivery's end): its warning is forked.
        const runFork = yield* FiberSet.runtime(yield* FiberSet.make())<never>()
        const throttled = makeThrottledLog()
        const onWriteFailure = (reason: string) =>
          void runFork(
            throttled.log(throttled.warning, "journal", "OUTBOX_FILE could not be written: callbacks are still delivered, but one pending now would not be sent again after a crash", {
              file,
              cause: reason
            })
          )
        // Said here as well as by the launch failure: a failure while the layers build can reach main.ts as a bare
        // interruption (a layer several services share), and this line is then the only one that names it.
        const notices = {
          notCompacted: (cause: string) =>
            void runFork(throttled.log(throttled.warning, "journal-rewrite", "OUTBOX_FILE could not be rewritten: it is appended to as it is, and grows until it can be", { file, cause })),
          recreated: (pending: number) =>
            void runFork(Effect.logWarning("OUTBOX_FILE was deleted while the worker ran: written again with the callbacks still pending", { file, pending })),
          directoryGone: (directory: string) =>
            void runFork(
              throttled.log(
                throttled.warning,
                "journal-directory",
                "OUTBOX_FILE was deleted with its directory while the worker ran: callbacks are still delivered, but those pending would not be sent again after a crash; the file is written again once the directory exists",
                { file, directory }
              )
            ),
          lockTaken: (holder: number) =>
            void runFork(
              Effect.logWarning(
                "OUTBOX_FILE's lock was deleted while the worker ran, and another worker has taken it since: the file is that worker's journal, and this worker no longer journals its callbacks (they are still delivered, but those pending would not be sent again after a crash)",
                { file, holder }
              )
            ),
          pathMoved: (now: string) =>
            void runFork(
              Effect.logWarning(
                "OUTBOX_FILE now leads to another file (a link on its way was re-pointed): this worker goes on journalling where it opened it, which a worker started on OUTBOX_FILE now would not read; its stop lists what is pending there",
                { file, now, journal: journalFile }
              )
            ),
          notRelocated: (now: string, why: string, journalsNoMore: boolean) => {
            const message = "OUTBOX_FILE's directory was deleted while the worker ran, and the journal cannot go where the variable leads now: callbacks are still delivered, but those pending would not be sent again after a crash"
            const fields = { file, journal: journalFile, now, why }
            // Said once, and never held back by the throttle of the tries before it (review 62 #1).
            void runFork(journalsNoMore ? Effect.logWarning(message, fields) : throttled.log(throttled.warning, "journal-relocation", message, fields))
          },
          relocated: (now: string, pending: number) => {
            const was = journalFile
            journalFile = now
            void runFork(
              Effect.logWarning(
                "OUTBOX_FILE's directory was deleted while the worker ran, and the variable leads to another file now: the journal is there from now on, written with the callbacks still pending",
                { file, was, journal: now, pending }
              )
            )
          }
        }
        // A lock another live worker holds is tried again once a second for BIND_RETRY_SECONDS, as a taken port is: a
        // predecessor still draining lets both go when it stops.
        const retries = Math.floor(config.bindRetrySeconds)
        const notice = retryNotices(retries, `every 1 s for up to ${retries} s (BIND_RETRY_SECONDS)`)
        const opened = yield* openJournal(file, onWriteFailure, notices, policy.journalDisk).pipe(
          Effect.tapError((error) => (error.lockHolder === null ? Effect.void : notice(error.message))),
          Effect.retry({ schedule: Schedule.spaced("1 second"), times: retries, while: (error) => error.lockHolder !== null }),
          Effect.tapError((error) => Effect.zipRight(Effect.logError(error.message), noteStartFailure(error.message))),
          Effect.orDie
        )
        journal = opened.journal
        journalFile = opened.file
        replayedFromJournal = opened.left
        if (opened.skipped > 0) {
          yield* Effect.logWarning("OUTBOX_FILE had lines that are not journal lines (torn by a crash or a full disk, or damaged): dropped", {
            file,
            lines: opened.skipped
          })
        }
        yield* Effect.addFinalizer(() => Effect.sync(() => journal?.close()))
      }

      // Out of the pending count and the stop's wait first: what follows (the history, the journal) could throw, and a
      // delivery left live then would be waited for, and held under the caps, for the life of the process (review 58 I9).
      const finish = (delivery: Delivery, next: DeliveryRecord) => {
        delivery.record = next
        live.delete(delivery.callback.sessionId)
        liveLength -= pendingLength(delivery.callback)
        if (live.size === 0) Deferred.unsafeDone(idle, Exit.void)
        finished.push(next)
        if (finished.length > policy.history) finished = finished.slice(finished.length - policy.history)
        journal?.done(delivery.callback.sessionId)
      }

      /** A delivery given up for good, with `record` as it ends: finished, then counted failed. */
      const giveUp = (delivery: Delivery, record: DeliveryRecord) => {
        finish(delivery, { ...record, state: "failed", finishedAt: clock.unsafeCurrentTimeMillis() })
        failed++
        prometheus.delivery("failed")
      }

      const enqueue = (callback: CloseCallback, replayed: boolean) => {
        const delivery: Delivery = {
          callback,
          destination: destinationOf(callback.route),
          record: {
            sessionId: callback.sessionId,
            generation: callback.generation,
            route: redactRoute(callback.route),
            reason: callback.reason,
            state: "queued",
            attempts: 0,
            lastStatus: null,
            lastError: null,
            queuedAt: clock.unsafeCurrentTimeMillis(),
            nextAttemptAt: null,
            finishedAt: null,
            replayed
          },
          journalled: replayed
        }
        if (live.size === 0) idle = Deferred.unsafeMake(FiberId.none)
        live.set(callback.sessionId, delivery)
        liveLength += pendingLength(callback)
        if (!replayed && journal !== null) {
          delivery.journalled = journal.pending({ session_id: callback.sessionId, generation: callback.generation, route: callback.route, body: callback.body, reason: callback.reason })
        }
        Queue.unsafeOffer(queue, delivery)
      }

      /** One POST; 307/308 followed. Succeeds with the final 2xx status. */
      const attempt = (callback: CloseCallback) =>
        Effect.gen(function* () {
          let url = callback.route
          for (let hop = 0; ; hop++) {
            const response = yield* HttpClientRequest.post(url).pipe(
              HttpClientRequest.setHeader("user-agent", CALLBACK_USER_AGENT),
              HttpClientRequest.bodyText(callback.body, "application/json"),
              client.execute,
              // The status and the Location header are all we need; closing the scope aborts the response.
              Effect.map((answer) => ({ status: answer.status, location: answer.headers["location"], retryAfter: answer.headers["retry-after"] })),
              Effect.scoped,
              Effect.catchTags({
                // Node's code, never the error's message: that names the URL, which may hold credentials.
                RequestError: (error) => Effect.fail(transportFailure(error)),
                ResponseError: (error) => Effect.fail(transportFailure(error))
              })
            )
            if (response.status >= 200 && response.status < 300) return response.status
            const redirect = (response.status === 307 || response.status === 308) && response.location !== undefined
            // A Location that is not a URL is a broken answer, like a 5xx: said as such, and retried (the receiver may be
            // mended within the retry window). A redirect to another scheme, by contrast, is one we will never follow.
            if (redirect && !URL.canParse(response.location ?? "", url)) {
              return yield* new AttemptFailed({ retryable: true, status: response.status, reason: `status ${response.status}: redirect to a Location that is not a URL` })
            }
            if (redirect && hop < policy.maxRedirects) {
              const next = new URL(response.location ?? "", url)
              if (next.protocol !== "http:" && next.protocol !== "https:") {
                return yield* new AttemptFailed({ retryable: false, status: response.status, reason: `status ${response.status}: redirect to a ${next.protocol} URL` })
              }
              url = next.toString()
              continue
            }
            return yield* new AttemptFailed({
              retryable: isRetryableStatus(response.status),
              status: response.status,
              reason: redirect ? `status ${response.status}: more than ${policy.maxRedirects} redirects` : `status ${response.status}`,
              retryAfterMs: response.status === 429 || response.status === 503 ? retryAfterMs(response.retryAfter, clock.unsafeCurrentTimeMillis()) : null
            })
          }
        }).pipe(
          // A request the client could not even make is a bug or a URL it cannot handle: final, never a stuck delivery.
          Effect.catchAllDefect(() => Effect.fail(new AttemptFailed({ retryable: false, status: null, reason: "the request could not be made" }))),
          Effect.timeoutFail({
            duration: policy.attemptTimeout,
            onTimeout: () => new AttemptFailed({ retryable: true, status: null, reason: "timed out" })
          })
        )

      /** One attempt. A retryable failure is queued again after its back-off (about 1, 2, 4 … s), from a fiber of its own. */
      const deliverOnce = (delivery: Delivery) =>
        Effect.gen(function* () {
          const { callback } = delivery
          delivery.record = { ...delivery.record, state: "delivering", attempts: delivery.record.attempts + 1, nextAttemptAt: null }
          const outcome = yield* Effect.either(attempt(callback))
          const fields = { session_id: callback.sessionId, generation: callback.generation, route: delivery.record.route, close_reason: callback.reason }
          if (outcome._tag === "Right") {
            delivered++
            prometheus.delivery("delivered")
            finish(delivery, { ...delivery.record, state: "delivered", lastStatus: outcome.right, lastError: null, finishedAt: clock.unsafeCurrentTimeMillis() })
            return yield* Effect.logDebug("on_close callback delivered", { ...fields, status: outcome.right })
          }
          const error = outcome.left
          delivery.record = { ...delivery.record, lastStatus: error.status, lastError: error.reason }
          if (error.retryable && delivery.record.attempts <= policy.retries) {
            prometheus.delivery("retried")
            const spread = 1 + policy.jitter * (2 * (yield* random.next) - 1)
            const scheduled = Math.round(Duration.toMillis(policy.firstRetryDelay) * 2 ** (delivery.record.attempts - 1) * spread)
            // A receiver that said when to come back is not asked sooner.
            const backOff = Duration.millis(Math.max(scheduled, error.retryAfterMs ?? 0))
            delivery.record = { ...delivery.record, state: "retrying", nextAttemptAt: clock.unsafeCurrentTimeMillis() + Duration.toMillis(backOff) }
            const requeue = Effect.sync(() => {
              delivery.record = { ...delivery.record, state: "queued", nextAttemptAt: null }
              Queue.unsafeOffer(queue, delivery)
            })
            return yield* FiberSet.run(backOffs, Effect.zipRight(Effect.sleep(backOff), requeue))
          }
          giveUp(delivery, delivery.record)
          yield* Effect.logWarning(`on_close callback given up after ${delivery.record.attempts} attempt(s): ${error.reason}`, fields)
        })

      // A defect outside the attempt itself (its bookkeeping: the back-off's draw, the journal, the metrics) fails that
      // delivery rather than leaving it pending for the life of the process, holding its place under the caps and the
      // stop's wait, with the deliveries parked behind it (review 56 I4).
      const deliverOrFail = (delivery: Delivery): Effect.Effect<void> =>
        Effect.catchAllCause(deliverOnce(delivery), (cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.zipRight(
                Effect.sync(() => {
                  if (live.get(delivery.callback.sessionId) === delivery) giveUp(delivery, { ...delivery.record, lastError: `crashed: ${describeCause(cause)}` })
                }),
                Effect.logError("on_close delivery crashed: given up", cause)
              )
        )

      // Giving a crashed delivery up can crash in turn (its bookkeeping, its log line): the loop below still hands the slot
      // on, or the deliveries parked behind it would wait for good (review 57 I8).
      const deliverOrGoOn = (delivery: Delivery): Effect.Effect<void> =>
        Effect.catchAllCause(deliverOrFail(delivery), (cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.catchAllCause(Effect.logError("on_close delivery crashed, and so did giving it up", cause), () => Effect.void)
        )

      // The slot is taken (or the delivery parked) and given back as one resource, so no interruption comes between
      // the count and its release. An attempt that ends goes on with the oldest delivery parked for its destination,
      // so each destination's callbacks keep their order; with none, the slot is given back in that same step.
      const take = (delivery: Delivery): Effect.Effect<void> =>
        Effect.acquireUseRelease(
          Effect.sync(() => (slots.take(delivery.destination, delivery) ? { held: true } : null)),
          (slot) =>
            slot === null
              ? Effect.void
              : Effect.gen(function* () {
                  for (let next: Delivery | undefined = delivery; next !== undefined; ) {
                    yield* deliverOrGoOn(next)
                    next = slots.handOn(delivery.destination)
                    if (next === undefined) slot.held = false
                  }
                }),
          (slot) => (slot?.held === true ? Effect.sync(() => slots.giveBack(delivery.destination)) : Effect.void)
        )

      const worker = Queue.take(queue).pipe(
        Effect.flatMap(take),
        Effect.catchAllCause((cause) => Effect.logError("on_close delivery crashed", cause)),
        Effect.forever
      )
      yield* Effect.forkScoped(Effect.all(Array.from({ length: config.callbackConcurrency }, () => worker), { concurrency: "unbounded", discard: true }))

      for (const left of replayedFromJournal) {
        enqueue({ sessionId: left.session_id, generation: left.generation, route: left.route, body: left.body, reason: left.reason }, true)
      }
      if (replayedFromJournal.length > 0) {
        yield* Effect.logInfo("re-sending callbacks a previous process left pending", { count: replayedFromJournal.length })
      }
      // One process never leaves more than the cap; a journal edited or merged by hand can. All are sent, and until
      // the outbox is back under the cap a create with a callback is refused (503): said once, here.
      if (replayedFromJournal.length > config.callbackMaxPending) {
        yield* Effect.logWarning("OUTBOX_FILE left more callbacks than CALLBACK_MAX_PENDING: creates with an on_close_route are refused until they are sent", {
          count: replayedFromJournal.length,
          max_pending: config.callbackMaxPending
        })
      }

      /** Wait up to `timeout` (the policy's `drainTimeout` unless given) for the outbox to empty, then log what is left. */
      let drained = false
      const drain = (timeout: Duration.DurationInput = policy.drainTimeout) =>
        Effect.gen(function* () {
          if (drained) return
          drained = true
          if (live.size > 0) yield* Effect.interruptible(Deferred.await(idle)).pipe(Effect.timeoutOption(timeout))
          // Journalled, the callbacks are in the file for the next start: past a screenful, the log counts them. (A
          // journal left by crashed workers can hold far more than CALLBACK_MAX_PENDING, all replayed.) One the journal
          // could not take (a full disk) is listed whatever the count: the log is its only record.
          const nowhere = Option.isNone(config.outboxFile) ? "nowhere (set OUTBOX_FILE to keep it)" : "nowhere (not written to OUTBOX_FILE)"
          // What the file at the path holds now, read back: deleted or replaced while the worker ran, it may hold none
          // of what was written to it (review 47 M1). Unreadable, each callback's own write is what is known.
          // Lines a full disk refused are written now if the disk has room again (probe 51 M1); a journal whose directory
          // is gone moves where the variable leads, if it can (review 61 #2).
          if (live.size > 0) journal?.catchUp()
          // Where it is, after that: opened there, or moved (review 61 #1: read before the move, the old file was read
          // back, and every callback said kept nowhere); a link re-pointed since leads elsewhere (probe 54 #3).
          const file = journalFile
          const held = file === null || live.size === 0 ? null : heldInJournal(file)
          let listedKept = 0
          let counted = 0
          for (const { record, journalled } of live.values()) {
            const kept = held === null ? journalled : held.has(record.sessionId)
            if (kept && listedKept++ >= EXIT_LINES_WHEN_JOURNALLED) {
              counted++
              continue
            }
            yield* Effect.logWarning("on_close callback still pending at exit", {
              session_id: record.sessionId,
              generation: record.generation,
              route: record.route,
              close_reason: record.reason,
              attempts: record.attempts,
              kept_in: kept ? file : nowhere
            })
          }
          if (counted > 0) yield* Effect.logWarning(`and ${counted} more on_close callbacks still pending at exit`, { count: counted, kept_in: file })
        })
      yield* Effect.addFinalizer(() => drain())

      return {
        /** Queue a delivery; returns at once. Synchronous, so the pool can call it inside its one step. */
        unsafeEnqueue: (callback: CloseCallback): void => enqueue(callback, false),
        post: (callback: CloseCallback): Effect.Effect<void> => Effect.sync(() => enqueue(callback, false)),
        /**
         * Which cap `extra` more callbacks of `extraLength` characters would pass, or null when they fit (synchronous, for
         * the pool's one step).
         */
        unsafeFullness: (extra: number, extraLength: number): string | null =>
          live.size + extra > config.callbackMaxPending
            ? `${config.callbackMaxPending} callbacks`
            : liveLength + extraLength > config.callbackMaxPendingBytes
              ? `${config.callbackMaxPendingBytes} characters of callbacks`
              : null,
        /** Count a create refused at the cap. */
        unsafeRefusedAtCap: (): void => {
          refusedAtCap++
          prometheus.delivery("refused_at_cap")
        },
        /**
         * The most recent finished deliveries and the pending ones, oldest first: of these at most `CALLBACK_MAX_PENDING`,
         * the next to be sent. Only a journal replayed over the cap leaves more (`/debug` counts the rest).
         */
        deliveries: Effect.sync((): ReadonlyArray<DeliveryRecord> => {
          const listed = [...finished]
          let pending = 0
          for (const delivery of live.values()) {
            if (pending++ === config.callbackMaxPending) break
            listed.push(delivery.record)
          }
          return listed
        }),
        stats: Effect.sync(
          (): OutboxStats => ({
            pending: live.size,
            inFlight: slots.inFlight(),
            delivered,
            failed,
            refusedAtCap,
            maxPending: config.callbackMaxPending,
            concurrency: config.callbackConcurrency
          })
        ),
        drain
      }
    })

export class CallbackPoster extends Effect.Service<CallbackPoster>()("worker/CallbackPoster", {
  scoped: make({}),
  // Its own client: a callback's destination is the session creator's, and must never be the worker itself.
  dependencies: [WorkerMetrics.Default, callbackHttpClient]
}) {
  /** The outbox with another delivery policy (tests: short timeouts, no drain wait), and the worker's metrics unless a test gives its own. */
  static readonly layerWith = (policy: Partial<DeliveryPolicy>, metrics: Layer.Layer<WorkerMetrics> = WorkerMetrics.Default) =>
    Layer.scoped(CallbackPoster, Effect.map(make(policy), (service) => CallbackPoster.make(service))).pipe(Layer.provide(metrics))
}
