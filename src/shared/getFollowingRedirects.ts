/**
 * A GET that follows redirects as aiohttp's `GET` does (the framework's fetches: the health check, the public key):
 * a 301, 302, 303, 307 or 308 with a `Location` is followed, resolved against the URL that gave it, at most
 * `MAX_REDIRECTS` times (past them the last redirect is the answer: a status that is not the success asked for).
 *
 * Not the platform's `followRedirects`, which leaves each redirect's response open: against a server that keeps idle
 * connections (Go's does, for ever), one descriptor per fetch, until none was left. Here each hop's answer is closed
 * (aborted) once its status and `Location` are known, and the final one once `read` is done with it.
 */
import { HttpClient, type HttpClientError, type HttpClientResponse } from "@effect/platform"
import { Effect } from "effect"

/** aiohttp's default (`max_redirects=10`). */
export const MAX_REDIRECTS = 10

/** The statuses aiohttp follows; any other 3xx (a 300, a 304) is the answer. */
const FOLLOWED = new Set([301, 302, 303, 307, 308])

type Step<A> = { readonly _tag: "Redirect"; readonly to: string } | { readonly _tag: "Final"; readonly value: A }

/**
 * GET `url`, then `read` the final answer (the first that is not a redirect to follow). Node's client throws, a
 * defect, on a `Location` it cannot follow (`ftp:`, unparsable): callers that fetch from other hosts catch it.
 */
export const getFollowingRedirects = <A, E, R>(
  client: HttpClient.HttpClient,
  url: string,
  read: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | HttpClientError.HttpClientError, R> => {
  const scoped = HttpClient.withScope(client)
  const hop = (target: string, redirects: number): Effect.Effect<A, E | HttpClientError.HttpClientError, R> =>
    Effect.flatMap(
      Effect.scoped(
        Effect.flatMap(scoped.get(target), (response): Effect.Effect<Step<A>, E, R> => {
          const location = response.headers["location"]
          return FOLLOWED.has(response.status) && location !== undefined && redirects < MAX_REDIRECTS
            ? Effect.sync(() => ({ _tag: "Redirect", to: new URL(location, target).toString() }))
            : Effect.map(read(response), (value) => ({ _tag: "Final", value }))
        })
      ),
      (step) => (step._tag === "Final" ? Effect.succeed(step.value) : hop(step.to, redirects + 1))
    )
  return Effect.suspend(() => hop(url, 0))
}
