/**
 * The SDK's waits (vast-protocol.md §8.3, §8.5), drawn from Effect's `Random` so tests can seed them.
 */
import { Duration, Effect, Random } from "effect"

/** The longest wait between two polls of `/route/`, and the cap of the retry back-off. */
export const MAX_WAIT_SECONDS = 5

/**
 * The wait before poll `attempt + 1` of `/route/` while the answer is "waiting". The first wait
 * (`attempt` 0) is 1 s; wait `attempt` ≥ 1 is uniform(0.1, min(2^attempt + U(0,1), 5)) s.
 */
export const routePollDelay = (attempt: number): Effect.Effect<Duration.Duration> =>
  attempt === 0
    ? Effect.succeed(Duration.seconds(1))
    : Effect.gen(function* () {
        const jitter = yield* Random.next
        const cap = Math.min(2 ** attempt + jitter, MAX_WAIT_SECONDS)
        return Duration.millis(Math.round((yield* Random.nextRange(0.1, cap)) * 1000))
      })

/**
 * How many times in a row `/route/` may fail in a way that may pass (no answer, 408, 429, 5xx) before the reservation
 * fails: the SDK's transport makes 5 attempts at a retryable status (vast-protocol.md §8.1), though its `/route/`
 * makes one (§8.3). The waits between them are `retryDelay`'s.
 */
export const ROUTE_ATTEMPTS = 5

/**
 * The back-off after the `n`-th refusal (0-based) of `/session/create` by a worker (429, 408, 5xx or
 * no answer) before routing again: min(2^n + U(0,1), 5) s.
 */
export const retryDelay = (n: number): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.next, (jitter) => Duration.millis(Math.round(Math.min(2 ** n + jitter, MAX_WAIT_SECONDS) * 1000)))
