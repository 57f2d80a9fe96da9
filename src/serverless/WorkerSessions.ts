/**
 * The sessions a worker holds, as its control port tells them (`GET 127.0.0.1:<control port>/sessions`),
 * for the status page. Asking is best effort: a worker that does not answer in time, or answers
 * something else, shows no sessions rather than holding the page up.
 */
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { Context, Deferred, Duration, Effect, FiberId, Layer, Option } from "effect"
import { SessionsAnswer, type SessionView } from "../protocol/control.js"
import { boundedJson } from "../shared/boundedBody.js"

/** The worker's answer is awaited this long at most: the status page refreshes every second. */
const ASK_TIMEOUT = Duration.millis(500)

export class WorkerSessions extends Context.Tag("serverless/WorkerSessions")<
  WorkerSessions,
  {
    /** The sessions the worker whose control server is at `controlUrl` holds; none when it did not say. */
    readonly held: (controlUrl: string) => Effect.Effect<Option.Option<ReadonlyArray<SessionView>>>
  }
>() {
  /**
   * Asks over HTTP. A `/status` that finds an ask of the same worker in flight waits for its answer instead of asking
   * again: a flood of them (they need no key) holds one connection to each worker's control port, whose cap is there
   * to keep it free for the consumer's `/release`.
   */
  static readonly layer: Layer.Layer<WorkerSessions, never, HttpClient.HttpClient> = Layer.scoped(
    WorkerSessions,
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      const scope = yield* Effect.scope
      const ask = (controlUrl: string) =>
        client.get(`${controlUrl}/sessions`).pipe(
          Effect.flatMap(HttpClientResponse.filterStatusOk),
          Effect.flatMap(boundedJson(SessionsAnswer)),
          Effect.scoped,
          Effect.timeout(ASK_TIMEOUT),
          Effect.map((answer) => Option.some(answer.sessions)),
          Effect.orElseSucceed(() => Option.none<ReadonlyArray<SessionView>>())
        )
      const inFlight = new Map<string, Deferred.Deferred<Option.Option<ReadonlyArray<SessionView>>>>()
      return WorkerSessions.of({
        held: (controlUrl) =>
          Effect.suspend(() => {
            const pending = inFlight.get(controlUrl)
            if (pending !== undefined) return Deferred.await(pending)
            const answered = Deferred.unsafeMake<Option.Option<ReadonlyArray<SessionView>>>(FiberId.none)
            inFlight.set(controlUrl, answered)
            // In the layer's scope, not the asker's: a caller that goes away leaves the others their answer.
            return Effect.zipRight(
              Effect.forkIn(
                ask(controlUrl).pipe(
                  Effect.exit,
                  Effect.flatMap((exit) => Deferred.done(answered, exit)),
                  // Interrupted (the layer closing), its waiters are not left waiting.
                  Effect.ensuring(Effect.zipRight(Deferred.interrupt(answered), Effect.sync(() => inFlight.delete(controlUrl))))
                ),
                scope
              ),
              Deferred.await(answered)
            )
          })
      })
    })
  )

  /** Never asks (tests without worker processes). */
  static readonly layerNone: Layer.Layer<WorkerSessions> = Layer.succeed(
    WorkerSessions,
    WorkerSessions.of({ held: () => Effect.succeed(Option.none()) })
  )
}
