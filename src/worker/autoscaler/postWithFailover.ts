/**
 * Delivery to the autoscaler (vast-protocol.md §5.5): addresses in order, each tried up to `attempts`
 * times with `retryDelay` after every failed attempt; the first success wins. A failure is a transport
 * error (named by its errno), a timeout, or any non-2xx answer (named by its status; the body is ignored).
 *
 * Unlike the framework, a sender with an `AddressCooldown` tries an address that failed one of its deliveries (every
 * attempt, not a `413`) after the others for the next 5 minutes: with a first address that hangs, the framework's
 * order makes every report wait out its three attempts (36 s); here one delivery in five minutes does. Outside a
 * cool-down the order is the framework's, so reports go back to the first address once it has had time to recover.
 */
import { Duration, Effect } from "effect"
import { monotonicMillis } from "../../shared/monotonic.js"
import type { JsonPost } from "./jsonPost.js"
import { redactUrl } from "../../shared/redactUrl.js"
import { autoscalerUrl } from "./autoscalerUrl.js"

export interface FailoverPolicy {
  readonly attempts: number
  readonly retryDelay: Duration.DurationInput
  readonly attemptTimeout: Duration.DurationInput
}

const TOO_LARGE = "status 413"

export const framework: FailoverPolicy = { attempts: 3, retryDelay: "2 seconds", attemptTimeout: "10 seconds" }

interface Accepted {
  readonly _tag: "Accepted"
  readonly addr: string
  /** The attempts that failed before it (a retry, or another address first): empty when the first attempt was accepted. */
  readonly causes: ReadonlyArray<string>
}
interface Refused {
  readonly _tag: "Refused"
  readonly causes: ReadonlyArray<string>
  /** Some address answered `413`: the body is too large for it, however often it is sent. */
  readonly tooLarge: boolean
}
export type PostOutcome = Accepted | Refused
/** An outcome that carries what the accepted body was made of. */
export type LatestOutcome<A> = (Accepted & { readonly value: A }) | Refused

/** A body made for one attempt: its JSON text, and what it was made of (returned with the attempt that was accepted). */
export interface Attempted<A> {
  readonly json: string
  readonly value: A
}

/** How long an address that failed a delivery is tried after the others. */
export const ADDRESS_COOLDOWN_MS = 5 * 60_000

/** A sender's memory of its addresses that failed it: when each last did (monotonic ms), by its index in the list. */
export interface AddressCooldown {
  readonly failedAt: Map<number, number>
}

export const makeAddressCooldown = (): AddressCooldown => ({ failedAt: new Map() })

/** Whether the address at `index` failed this sender less than `ADDRESS_COOLDOWN_MS` before `now`. */
const isCooling = (cooldown: AddressCooldown | undefined, index: number, now: number): boolean => {
  const failed = cooldown?.failedAt.get(index)
  return failed !== undefined && now - failed < ADDRESS_COOLDOWN_MS
}

/** The indices of `count` addresses at `now`, those not cooling down and those cooling down, each in list order. */
const addressGroups = (count: number, cooldown: AddressCooldown | undefined, now: number) => {
  const ready: Array<number> = []
  const cooling: Array<number> = []
  for (let index = 0; index < count; index++) (isCooling(cooldown, index, now) ? cooling : ready).push(index)
  return { ready, cooling }
}

/** The indices of `count` addresses in the order to try them at `now`: those not cooling down first, each group in list order. */
export const addressOrder = (count: number, cooldown: AddressCooldown | undefined, now: number): ReadonlyArray<number> => {
  const { cooling, ready } = addressGroups(count, cooldown, now)
  return [...ready, ...cooling]
}

/** What runs with each attempt. */
export interface AttemptHooks<A> {
  /** Try the addresses that failed this sender lately after the others (by default: always in order, as the framework). */
  readonly cooldown?: AddressCooldown
  /** Wraps each attempt (its body's making, its post and `onAccepted`): a lock, so that attempts never overlap. */
  readonly around?: <X>(attempt: Effect.Effect<X>) => Effect.Effect<X>
  /** Runs inside the attempt that was accepted, with what its body was made of (e.g. clearing what it reported). */
  readonly onAccepted?: (value: A) => Effect.Effect<void>
  /**
   * A time (monotonic ms) the delivery must end by (shutdown's last report): each attempt gets at most an equal share
   * of the time left among the addresses still to try that are not cooling down (those are tried last, with what is
   * left), recomputed as each ends, so a fast failure leaves its share to the next; a little is kept back so the
   * attempt's own timeout, which says why, comes before the caller's.
   */
  readonly deadline?: number
}

/** Kept back from a deadline: the attempt's own timeout ends it first. */
const DEADLINE_MARGIN_MS = 50

/**
 * Post the body `build` makes (a JSON text, and what it stands for) to `<addr><path>` (`autoscalerUrl`) for each
 * address in turn, until one accepts it. The body is made again for every attempt: a retry after a hung or failed
 * one (up to 36 s later) says how things are then, not how they were when the first attempt began.
 */
export const postLatestWithFailover = <A>(
  post: JsonPost,
  addrs: ReadonlyArray<string>,
  path: string,
  build: Effect.Effect<Attempted<A>>,
  policy: FailoverPolicy = framework,
  hooks: AttemptHooks<A> = {}
): Effect.Effect<LatestOutcome<A>> =>
  Effect.gen(function* () {
    const causes: Array<string> = []
    let tooLarge = false
    const pause = !Duration.isZero(Duration.decode(policy.retryDelay))
    const around = hooks.around ?? (<X>(attempt: Effect.Effect<X>) => attempt)
    const cooldown = hooks.cooldown
    const { cooling, ready } = addressGroups(addrs.length, cooldown, cooldown === undefined ? 0 : yield* monotonicMillis)
    const order = [...ready, ...cooling]
    const readyCount = ready.length
    for (const [position, index] of order.entries()) {
      const addr = addrs[index]!
      const url = autoscalerUrl(addr, path)
      let refusedForSize = false
      for (let attempt = 1; attempt <= policy.attempts; attempt++) {
        let timeout = Duration.decode(policy.attemptTimeout)
        if (hooks.deadline !== undefined) {
          const sharing = position < readyCount ? readyCount - position : order.length - position
          const share = Math.floor((hooks.deadline - DEADLINE_MARGIN_MS - (yield* monotonicMillis)) / sharing)
          timeout = Duration.min(timeout, Duration.millis(Math.max(1, share)))
        }
        const silence = `no answer within ${Duration.format(timeout)}`
        const { body, outcome } = yield* around(
          // A shutdown may stop this attempt (the last report stopping a loop whose attempt hangs) as its answer comes
          // in: work the autoscaler accepted must still be acknowledged, or it is sent, and counted, again. So only the
          // body's making and the post can be stopped, and a stop notes what was answered by then (the status, heard
          // before the body is read). Stopped with no answer, the address failed this delivery: a shutdown stops only
          // an attempt that has gone unanswered for a while (`finalReport`).
          Effect.uninterruptibleMask((restore) =>
            Effect.gen(function* () {
              const body = yield* restore(build)
              let status: number | undefined
              const outcome = yield* restore(
                post(url, body.json, (answered) => void (status = answered)).pipe(
                  // Also from the result: a poster that does not call `onStatus` (a test's) is still acknowledged on a stop.
                  Effect.tap((answered) => void (status = answered)),
                  Effect.map(verdict),
                  Effect.catchAll((error) => Effect.succeed(error.reason)),
                  // A status heard before the time-out is the answer, its body still coming or not: a 2xx taken for
                  // silence would be sent, and its work counted, again.
                  Effect.timeoutTo({ duration: timeout, onSuccess: (verdict) => verdict, onTimeout: () => (status === undefined ? silence : verdict(status)) })
                )
              ).pipe(
                Effect.onInterrupt(() =>
                  status === undefined
                    ? cooldown === undefined ? Effect.void : Effect.map(monotonicMillis, (now) => void cooldown.failedAt.set(index, now))
                    : status >= 200 && status < 300 && hooks.onAccepted !== undefined ? hooks.onAccepted(body.value) : Effect.void
                )
              )
              if (outcome === null && hooks.onAccepted !== undefined) yield* hooks.onAccepted(body.value)
              return { body, outcome }
            })
          )
        )
        if (outcome === null) {
          cooldown?.failedAt.delete(index)
          return { _tag: "Accepted", addr, causes, value: body.value } as const
        }
        // Logged: an address may carry credentials.
        causes.push(`${redactUrl(url)}: ${outcome}`)
        // The same body is refused again for its size: the next address, without the retries' pauses.
        if (outcome === TOO_LARGE) {
          tooLarge = refusedForSize = true
          break
        }
        if (pause) yield* Effect.sleep(policy.retryDelay)
      }
      // Every attempt failed (a body too large is no fault of the address's).
      if (cooldown !== undefined && !refusedForSize) cooldown.failedAt.set(index, yield* monotonicMillis)
    }
    return { _tag: "Refused", causes, tooLarge } as const
  })

/** An answer's status as an attempt's outcome: `null` when it was accepted, else why not. */
const verdict = (status: number): string | null => (status >= 200 && status < 300 ? null : `status ${status}`)

/** Post `json` (a JSON text that stays the same for every attempt) as `postLatestWithFailover` does. */
export const postWithFailover = (
  post: JsonPost,
  addrs: ReadonlyArray<string>,
  path: string,
  json: string,
  policy: FailoverPolicy = framework,
  cooldown?: AddressCooldown
): Effect.Effect<PostOutcome> =>
  Effect.map(postLatestWithFailover(post, addrs, path, Effect.succeed({ json, value: undefined }), policy, cooldown === undefined ? {} : { cooldown }), (outcome) =>
    outcome._tag === "Accepted" ? { _tag: "Accepted", addr: outcome.addr, causes: outcome.causes } : outcome
  )
