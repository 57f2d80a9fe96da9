/**
 * Delivery to the autoscaler (vast-protocol.md §5.5): addresses in order, each tried up to `attempts`
 * times with `retryDelay` after every failed attempt; the first success wins. A failure is a transport
 * error (named by its errno), a timeout, or any non-2xx answer (named by its status; the body is ignored).
 */
import { HttpBody, HttpClient, HttpClientRequest } from "@effect/platform"
import { Duration, Effect } from "effect"
import { transportCause } from "../../shared/errno.js"

export interface FailoverPolicy {
  readonly attempts: number
  readonly retryDelay: Duration.DurationInput
  readonly attemptTimeout: Duration.DurationInput
}

/** How long an answer's body may take to arrive before the connection is given up instead of reused. */
const DRAIN_TIMEOUT = "1 second"

export const framework: FailoverPolicy = { attempts: 3, retryDelay: "2 seconds", attemptTimeout: "10 seconds" }

export type PostOutcome =
  | { readonly _tag: "Accepted"; readonly addr: string }
  | { readonly _tag: "Refused"; readonly causes: ReadonlyArray<string> }


/** Post `body` as JSON to `<addr><path>` for each address in turn, until one accepts it. */
export const postWithFailover = (
  client: HttpClient.HttpClient,
  addrs: ReadonlyArray<string>,
  path: string,
  body: unknown,
  policy: FailoverPolicy = framework
): Effect.Effect<PostOutcome> =>
  Effect.gen(function* () {
    const scoped = HttpClient.withScope(client)
    // Serialised once for all attempts: a second's `/delete_requests/` records are a few hundred kilobytes.
    const json = HttpBody.text(JSON.stringify(body), "application/json")
    const causes: Array<string> = []
    for (const addr of addrs) {
      for (let attempt = 1; attempt <= policy.attempts; attempt++) {
        const outcome = yield* HttpClientRequest.post(`${addr}${path}`).pipe(
          HttpClientRequest.setBody(json),
          scoped.execute,
          // The verdict is the status. The body is read (briefly, errors ignored) so that the connection
          // goes back to the agent's pool instead of being aborted when the scope closes.
          Effect.flatMap((response) =>
            Effect.as(
              Effect.ignore(Effect.timeout(response.arrayBuffer, DRAIN_TIMEOUT)),
              response.status >= 200 && response.status < 300 ? null : `status ${response.status}`
            )
          ),
          Effect.scoped,
          Effect.timeoutFail({ duration: policy.attemptTimeout, onTimeout: () => `no answer within ${Duration.format(policy.attemptTimeout)}` }),
          Effect.catchAll((error) => Effect.succeed(typeof error === "string" ? error : transportCause(error.cause ?? error)))
        )
        if (outcome === null) return { _tag: "Accepted", addr } as const
        causes.push(`${addr}${path}: ${outcome}`)
        if (!Duration.isZero(Duration.decode(policy.retryDelay))) yield* Effect.sleep(policy.retryDelay)
      }
    }
    return { _tag: "Refused", causes } as const
  })
