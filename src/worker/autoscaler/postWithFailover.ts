/**
 * Delivery to the autoscaler (vast-protocol.md §5.5): addresses in order, each tried up to `attempts`
 * times with `retryDelay` after every failed attempt; the first success wins. A failure is a transport
 * error (named by its errno), a timeout, or any non-2xx answer (named by its status; the body is ignored).
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

export const framework: FailoverPolicy = { attempts: 3, retryDelay: "2 seconds", attemptTimeout: "10 seconds" }

export type PostOutcome =
  | { readonly _tag: "Accepted"; readonly addr: string }
  | { readonly _tag: "Refused"; readonly causes: ReadonlyArray<string> }

/** Post `json` (a JSON text) to `<addr><path>` (`autoscalerUrl`) for each address in turn, until one accepts it. */
export const postWithFailover = (
  post: JsonPost,
  addrs: ReadonlyArray<string>,
  path: string,
  json: string,
  policy: FailoverPolicy = framework
): Effect.Effect<PostOutcome> =>
  Effect.gen(function* () {
    const causes: Array<string> = []
    const pause = !Duration.isZero(Duration.decode(policy.retryDelay))
    const silence = `no answer within ${Duration.format(policy.attemptTimeout)}`
    for (const addr of addrs) {
      const url = autoscalerUrl(addr, path)
      for (let attempt = 1; attempt <= policy.attempts; attempt++) {
        const outcome = yield* post(url, json).pipe(
          Effect.map((status): string | null => (status >= 200 && status < 300 ? null : `status ${status}`)),
          Effect.timeoutFail({ duration: policy.attemptTimeout, onTimeout: () => silence }),
          Effect.catchAll((error) => Effect.succeed(typeof error === "string" ? error : error.reason))
        )
        if (outcome === null) return { _tag: "Accepted", addr } as const
        // Logged: an address may carry credentials.
        causes.push(`${redactUrl(url)}: ${outcome}`)
        if (pause) yield* Effect.sleep(policy.retryDelay)
      }
    }
    return { _tag: "Refused", causes } as const
  })
