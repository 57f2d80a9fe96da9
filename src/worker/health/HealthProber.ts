/**
 * Whether the user's consumer is alive: a GET of its health URL (`BACKEND_HEALTH_URL`) that answers 200 within
 * the timeout. A failure says what kind it was, because a
 * busy consumer may be slow (a timeout) while a dead one refuses the connection or answers an error status.
 */
import { HttpClient } from "@effect/platform"
import { Context, Data, Duration, Effect, Layer, Option } from "effect"
import { describeDefect } from "../../shared/causeLine.js"
import { errnoOf, transportCause } from "../../shared/errno.js"
import { getFollowingRedirects } from "../../shared/getFollowingRedirects.js"
import { WorkerConfig } from "../config/WorkerConfig.js"

/** `local`: the check could not be made, the worker itself out of file descriptors: no word on the consumer. */
export type HealthFailureKind = "timeout" | "refused" | "status" | "transport" | "local"

/**
 * What a failed connection says of the consumer. The worker's own shortage of descriptors (`EMFILE`, `ENFILE`) says
 * nothing of it, and had a worker error itself for good, asking to be replaced (probe 54 #2).
 */
export const connectionFailureKind = (errno: string | undefined): HealthFailureKind =>
  errno === "ECONNREFUSED" ? "refused" : errno === "EMFILE" || errno === "ENFILE" ? "local" : "transport"

export class HealthCheckFailed extends Data.TaggedError("HealthCheckFailed")<{
  readonly kind: HealthFailureKind
  readonly message: string
}> {}

export class HealthProber extends Context.Tag("worker/HealthProber")<
  HealthProber,
  {
    /** One probe: succeeds on HTTP 200. */
    readonly check: Effect.Effect<void, HealthCheckFailed>
  }
>() {
  /**
   * GET `url` with a `timeout` per probe; the response is aborted once its status is known. Redirects are followed
   * (at most 10), as aiohttp's `GET` in the Python worker does: a consumer whose `/health` answers `301 /health/`
   * is healthy.
   */
  static readonly layer = (url: string, timeout: Duration.DurationInput = "10 seconds") =>
    Layer.effect(
      HealthProber,
      Effect.map(HttpClient.HttpClient, (client) => {
        // Each hop's answer is closed once its status is known (`getFollowingRedirects`), the final one too.
        const follow = (target: string) => getFollowingRedirects(client, target, (response) => Effect.succeed(response.status))
        return HealthProber.of({
          check: follow(url).pipe(
            // Node's client throws on a redirect it cannot follow (`ftp:`, an unparsable `Location`): one failed check,
            // as aiohttp's client error is, not a defect that would end the health loop.
            Effect.catchAllDefect((defect) =>
              Effect.fail(new HealthCheckFailed({ kind: "transport", message: `Healthcheck failed: ${describeDefect(defect)}` }))
            ),
            Effect.timeoutFail({
              duration: timeout,
              onTimeout: () => new HealthCheckFailed({ kind: "timeout", message: `Healthcheck failed: no answer within ${Duration.format(timeout)}` })
            }),
            Effect.catchTags({
              RequestError: (error) => {
                const errno = errnoOf(error)
                return Effect.fail(
                  new HealthCheckFailed({
                    kind: connectionFailureKind(errno),
                    message: `Healthcheck failed: ${errno ?? "transport error"}`
                  })
                )
              },
              ResponseError: (error) => Effect.fail(new HealthCheckFailed({ kind: "transport", message: `Healthcheck failed: ${transportCause(error)}` }))
            }),
            Effect.flatMap((status) =>
              status === 200 ? Effect.void : Effect.fail(new HealthCheckFailed({ kind: "status", message: `Healthcheck failed with status: ${status}` }))
            )
          )
        })
      })
    )

  /** Always healthy (tests, and code that needs a prober but not a consumer). */
  static readonly layerNoop = Layer.succeed(HealthProber, HealthProber.of({ check: Effect.void }))

  /**
   * `BACKEND_HEALTH_URL` with `HEALTHCHECK_TIMEOUT`; without it there is no consumer to check, and the worker is
   * healthy. The control server's stub `/health` answers 200 for whoever asks, but the worker does not probe itself
   * through it: a local client holding the control port's connection cap would fail that probe, and three failures
   * would retire a worker that has nothing wrong with it.
   */
  static readonly layerFromConfig = Layer.unwrapEffect(
    Effect.map(WorkerConfig, (config) =>
      Option.match(config.backendHealthUrl, {
        onNone: () => HealthProber.layerNoop,
        onSome: (url) => HealthProber.layer(url, Duration.seconds(config.healthcheckTimeoutSeconds))
      })
    )
  )
}
