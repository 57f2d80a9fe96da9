/**
 * Delivery to the autoscaler (vast-protocol.md §5.5): addresses in order, each tried up to `attempts`
 * times with `retryDelay` after every failed attempt; the first success wins. A failure is a transport
 * error (named by its errno), a timeout, or any non-2xx answer (named by its status; the body is ignored).
 *
 * Unlike the framework, a sender with an `AddressPreference` starts each delivery at the address that accepted its
 * last one, going round the list from there: with a first address that hangs, the framework's order makes every
 * report wait out its three attempts (36 s); here only the first delivery after the fault does.
 */
import { Duration, Effect } from "effect"
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

/** Where a sender's next delivery starts: the index of the address that accepted its last one. */
export interface AddressPreference {
  preferred: number
}

export const makeAddressPreference = (): AddressPreference => ({ preferred: 0 })

/** What runs with each attempt. */
export interface AttemptHooks<A> {
  /** Start at the address that accepted the last delivery of this sender (by default: the first, as the framework). */
  readonly preference?: AddressPreference
  /** Wraps each attempt (its body's making, its post and `onAccepted`): a lock, so that attempts never overlap. */
  readonly around?: <X>(attempt: Effect.Effect<X>) => Effect.Effect<X>
  /** Runs inside the attempt that was accepted, with what its body was made of (e.g. clearing what it reported). */
  readonly onAccepted?: (value: A) => Effect.Effect<void>
}

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
    const silence = `no answer within ${Duration.format(policy.attemptTimeout)}`
    const around = hooks.around ?? (<X>(attempt: Effect.Effect<X>) => attempt)
    const start = hooks.preference === undefined || addrs.length === 0 ? 0 : hooks.preference.preferred % addrs.length
    for (let tried = 0; tried < addrs.length; tried++) {
      const index = (start + tried) % addrs.length
      const addr = addrs[index]!
      const url = autoscalerUrl(addr, path)
      for (let attempt = 1; attempt <= policy.attempts; attempt++) {
        const { body, outcome } = yield* around(
          Effect.gen(function* () {
            const body = yield* build
            const outcome = yield* post(url, body.json).pipe(
              Effect.map((status): string | null => (status >= 200 && status < 300 ? null : `status ${status}`)),
              Effect.timeoutFail({ duration: policy.attemptTimeout, onTimeout: () => silence }),
              Effect.catchAll((error) => Effect.succeed(typeof error === "string" ? error : error.reason))
            )
            if (outcome === null && hooks.onAccepted !== undefined) yield* hooks.onAccepted(body.value)
            return { body, outcome }
          })
        )
        if (outcome === null) {
          if (hooks.preference !== undefined) hooks.preference.preferred = index
          return { _tag: "Accepted", addr, value: body.value } as const
        }
        // Logged: an address may carry credentials.
        causes.push(`${redactUrl(url)}: ${outcome}`)
        // The same body is refused again for its size: the next address, without the retries' pauses.
        if (outcome === TOO_LARGE) {
          tooLarge = true
          break
        }
        if (pause) yield* Effect.sleep(policy.retryDelay)
      }
    }
    return { _tag: "Refused", causes, tooLarge } as const
  })

/** Post `json` (a JSON text that stays the same for every attempt) as `postLatestWithFailover` does. */
export const postWithFailover = (
  post: JsonPost,
  addrs: ReadonlyArray<string>,
  path: string,
  json: string,
  policy: FailoverPolicy = framework
): Effect.Effect<PostOutcome> =>
  Effect.map(postLatestWithFailover(post, addrs, path, Effect.succeed({ json, value: undefined }), policy), (outcome) =>
    outcome._tag === "Accepted" ? { _tag: "Accepted", addr: outcome.addr } : outcome
  )
