/**
 * Delivery to the autoscaler (vast-protocol.md §5.5): addresses in order, each tried up to `attempts`
 * times with `retryDelay` after every failed attempt; the first success wins. A failure is a transport
 * error, a timeout, or any non-2xx answer (its body is ignored).
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Duration, Effect } from "effect"

export interface FailoverPolicy {
  readonly attempts: number
  readonly retryDelay: Duration.DurationInput
  readonly attemptTimeout: Duration.DurationInput
}

export const framework: FailoverPolicy = { attempts: 3, retryDelay: "2 seconds", attemptTimeout: "10 seconds" }

/** Post `body` as JSON to `<addr><path>` for each address in turn; true once one accepted it. */
export const postWithFailover = (
  client: HttpClient.HttpClient,
  addrs: ReadonlyArray<string>,
  path: string,
  body: unknown,
  policy: FailoverPolicy = framework
): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    for (const addr of addrs) {
      for (let attempt = 1; attempt <= policy.attempts; attempt++) {
        const accepted = yield* HttpClientRequest.post(`${addr}${path}`).pipe(
          HttpClientRequest.bodyUnsafeJson(body),
          client.execute,
          Effect.map((response) => response.status >= 200 && response.status < 300),
          Effect.scoped,
          Effect.timeout(policy.attemptTimeout),
          Effect.catchAll(() => Effect.succeed(false))
        )
        if (accepted) return true
        if (!Duration.isZero(Duration.decode(policy.retryDelay))) yield* Effect.sleep(policy.retryDelay)
      }
      yield* Effect.logWarning(`autoscaler ${addr}${path} did not accept the report`)
    }
    return false
  })
