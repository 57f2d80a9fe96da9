/**
 * The consumer's view of its own worker: the loopback control port (`WORKER_CONTROL_URL`). It learns that
 * it is reserved from `GET /sessions`, as a long poll (`?index=N&wait=S` answers as soon as the state moves
 * on from index N), and releases its worker with `POST /release {"session_id": "…"}`: fenced, so a late
 * release can never free a reservation made after the one it meant (the worker answers 409). By id, not by
 * generation: generations start again at 1 in a restarted worker process, and ids are drawn at random.
 */
import { HttpClient, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { Context, Data, Duration, Effect, Layer, Option } from "effect"
import { boundedJson } from "../../shared/boundedBody.js"
import { errnoOf } from "../../shared/errno.js"
import { ReleaseAnswer, ReleaseRequest, type SessionsAnswer, SessionsAnswer as SessionsAnswerSchema } from "../../protocol/control.js"

/** The control port did not answer, or answered something else than the protocol says. */
export class ControlFailed extends Data.TaggedError("ControlFailed")<{ readonly operation: string; readonly detail: string }> {
  override get message() {
    return `worker control ${this.operation}: ${this.detail}`
  }
}

export type ReleaseOutcome = "released" | "not-open"

export class WorkerControl extends Context.Tag("autoscale/WorkerControl")<
  WorkerControl,
  {
    /** The open sessions; with an index, once the state differs from it, or after `waitSeconds`. */
    readonly sessions: (index: Option.Option<number>, waitSeconds: number) => Effect.Effect<SessionsAnswer, ControlFailed>
    /** Release the session `sessionId`; `not-open` when it had closed already (409). */
    readonly release: (sessionId: string) => Effect.Effect<ReleaseOutcome, ControlFailed>
  }
>() {
  static readonly layer = (controlUrl: string): Layer.Layer<WorkerControl, never, HttpClient.HttpClient> =>
    Layer.effect(
      WorkerControl,
      Effect.map(HttpClient.HttpClient, (client) => {
        const base = controlUrl.replace(/\/+$/, "")
        // The client's message says "Transport error"; Node's errno under it (ECONNREFUSED) says which.
        const failed = (operation: string) => (error: { readonly message: string }) => {
          const errno = errnoOf(error)
          return new ControlFailed({ operation, detail: errno === undefined || error.message.includes(errno) ? error.message : `${error.message}: ${errno}` })
        }
        return WorkerControl.of({
          sessions: (index, waitSeconds) => {
            const query = Option.match(index, { onNone: () => "", onSome: (n) => `?index=${n}&wait=${waitSeconds}` })
            return client.get(`${base}/sessions${query}`).pipe(
              Effect.flatMap(HttpClientResponse.filterStatusOk),
              Effect.flatMap(boundedJson(SessionsAnswerSchema)),
              Effect.scoped,
              Effect.mapError(failed("GET /sessions")),
              // The worker answers by `wait`; a few seconds more is for the network, not for a hung worker.
              Effect.timeoutFail({
                duration: Duration.seconds(waitSeconds + 5),
                onTimeout: () => new ControlFailed({ operation: "GET /sessions", detail: `no answer within ${waitSeconds + 5} s` })
              })
            )
          },
          release: (sessionId) =>
            HttpClientRequest.post(`${base}/release`).pipe(
              HttpClientRequest.schemaBodyJson(ReleaseRequest)({ session_id: sessionId }),
              // Our own value always encodes.
              Effect.orDie,
              Effect.flatMap((request) => client.execute(request)),
              Effect.flatMap((response) =>
                response.status === 409
                  ? Effect.succeed<ReleaseOutcome>("not-open")
                  : HttpClientResponse.filterStatusOk(response).pipe(
                      Effect.flatMap(boundedJson(ReleaseAnswer)),
                      Effect.map((answer): ReleaseOutcome => (answer.released ? "released" : "not-open"))
                    )
              ),
              Effect.scoped,
              Effect.mapError(failed("POST /release")),
              Effect.timeoutFail({ duration: Duration.seconds(10), onTimeout: () => new ControlFailed({ operation: "POST /release", detail: "no answer within 10 s" }) })
            )
        })
      })
    )
}
