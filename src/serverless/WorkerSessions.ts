/**
 * The sessions a worker holds, as its control port tells them (`GET 127.0.0.1:<control port>/sessions`),
 * for the status page. Asking is best effort: a worker that does not answer in time, or answers
 * something else, shows no sessions rather than holding the page up.
 */
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { Context, Duration, Effect, Layer, Option } from "effect"
import { SessionsAnswer, SessionView } from "../protocol/control.js"
import { boundedJson } from "../shared/boundedBody.js"

/** One open session, as the worker's control route lists it (epoch seconds). */
export const HeldSession = SessionView
export type HeldSession = SessionView

/** `200` from the worker's `GET /sessions`. */
export const HeldSessions = SessionsAnswer

/** The worker's answer is awaited this long at most: the status page refreshes every second. */
const ASK_TIMEOUT = Duration.millis(500)

export class WorkerSessions extends Context.Tag("serverless/WorkerSessions")<
  WorkerSessions,
  {
    /** The sessions the worker whose control server is at `controlUrl` holds; none when it did not say. */
    readonly held: (controlUrl: string) => Effect.Effect<Option.Option<ReadonlyArray<HeldSession>>>
  }
>() {
  /** Asks over HTTP. */
  static readonly layer: Layer.Layer<WorkerSessions, never, HttpClient.HttpClient> = Layer.effect(
    WorkerSessions,
    Effect.map(HttpClient.HttpClient, (client) =>
      WorkerSessions.of({
        held: (controlUrl) =>
          client.get(`${controlUrl}/sessions`).pipe(
            Effect.flatMap(HttpClientResponse.filterStatusOk),
            Effect.flatMap(boundedJson(HeldSessions)),
            Effect.scoped,
            Effect.timeout(ASK_TIMEOUT),
            Effect.map((answer) => Option.some(answer.sessions)),
            Effect.orElseSucceed(() => Option.none())
          )
      })
    )
  )

  /** Never asks (tests without worker processes). */
  static readonly layerNone: Layer.Layer<WorkerSessions> = Layer.succeed(
    WorkerSessions,
    WorkerSessions.of({ held: () => Effect.succeed(Option.none()) })
  )
}
