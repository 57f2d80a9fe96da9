/**
 * Whether the user's consumer is alive: a GET of its health URL (`BACKEND_HEALTH_URL`, or the control
 * server's stub `/health`) that answers 200 within the timeout. Anything else is a failure whose
 * message is what the autoscaler will read in `error_msg`.
 */
import { HttpClient } from "@effect/platform"
import { Context, Data, Duration, Effect, Layer } from "effect"

export class HealthCheckFailed extends Data.TaggedError("HealthCheckFailed")<{ readonly message: string }> {}

export class HealthProber extends Context.Tag("app/HealthProber")<
  HealthProber,
  {
    /** One probe: succeeds on HTTP 200. */
    readonly check: Effect.Effect<void, HealthCheckFailed>
  }
>() {
  /** GET `url` with a `timeout` per probe. */
  static readonly layer = (url: string, timeout: Duration.DurationInput = "10 seconds") =>
    Layer.effect(
      HealthProber,
      Effect.map(HttpClient.HttpClient, (client) =>
        HealthProber.of({
          check: client.get(url).pipe(
            Effect.scoped,
            Effect.timeoutFail({
              duration: timeout,
              onTimeout: () => new HealthCheckFailed({ message: `Healthcheck failed: no answer within ${Duration.format(timeout)}` })
            }),
            Effect.catchTags({
              RequestError: (error) => Effect.fail(new HealthCheckFailed({ message: `Healthcheck failed: ${error.message}` })),
              ResponseError: (error) => Effect.fail(new HealthCheckFailed({ message: `Healthcheck failed: ${error.message}` }))
            }),
            Effect.flatMap((response) =>
              response.status === 200
                ? Effect.void
                : Effect.fail(new HealthCheckFailed({ message: `Healthcheck failed with status: ${response.status}` }))
            )
          )
        })
      )
    )
}
