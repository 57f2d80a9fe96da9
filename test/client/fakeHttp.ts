import { HttpClient, HttpClientError, HttpClientResponse } from "@effect/platform"
import { Clock, type Duration, Effect, Layer, Ref, Schema } from "effect"

export interface SeenRequest {
  readonly method: string
  /** The full URL, query string included. */
  readonly url: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
  /** The body's text as sent (`null` for none). */
  readonly text: string | null
  /** Clock time (TestClock in unit tests) when the request was made. */
  readonly at: number
}

/** A JSON answer, a transport failure, a client that throws (a defect), or a request that never answers. */
export type FakeAnswer =
  | {
      readonly status: number
      readonly body?: unknown
      readonly delay?: Duration.DurationInput
      /** The connection fails after the status line and half the body (a proxy's reset). */
      readonly cutOff?: true
    }
  | "network-error"
  /** A transport failure whose cause carries Node's `code` (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, …), and `message` when given. */
  | { readonly transportCode: string; readonly message?: string }
  | "defect"
  | "hang"

const parseJson = Schema.decodeUnknownSync(Schema.parseJson())

/** A body whose first half arrives, then the connection fails, as Node says it (`aborted`, code `ECONNRESET`). */
const cutOff = (text: string): ReadableStream<Uint8Array> => {
  const bytes = new TextEncoder().encode(text)
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes.subarray(0, bytes.length >> 1))
      controller.error(Object.assign(new Error("aborted"), { code: "ECONNRESET" }))
    }
  })
}

/**
 * An `HttpClient` answering with `respond`, recording every request (headers, JSON body, Clock time). A URL
 * that is not http(s) is recorded, then dies as it does over Node's agents.
 */
export const fakeHttp = (respond: (request: SeenRequest, index: number) => FakeAnswer) =>
  Effect.gen(function* () {
    const seen = yield* Ref.make<ReadonlyArray<SeenRequest>>([])
    const client = HttpClient.make((request, url) =>
      Effect.gen(function* () {
        const at = yield* Clock.currentTimeMillis
        const sent = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : null
        const body = sent === null ? null : parseJson(sent)
        const entry: SeenRequest = { method: request.method, url: url.toString(), path: url.pathname, headers: request.headers, body, text: sent, at }
        const index = (yield* Ref.getAndUpdate(seen, (all) => [...all, entry])).length
        // As Node's http.request does: it throws, so the client sees a defect, not a RequestError.
        if (url.protocol !== "http:" && url.protocol !== "https:") {
          return yield* Effect.die(new TypeError(`Protocol "${url.protocol}" not supported. Expected "http:"`))
        }
        const answer = respond(entry, index)
        if (answer === "hang") return yield* Effect.never
        if (answer === "defect") return yield* Effect.die(new Error("the client threw\nat a stack line"))
        if (answer === "network-error") {
          return yield* new HttpClientError.RequestError({ request, reason: "Transport", description: "connection refused" })
        }
        if ("transportCode" in answer) {
          const cause = Object.assign(new Error(answer.message ?? `failed: ${answer.transportCode}`), { code: answer.transportCode })
          return yield* new HttpClientError.RequestError({ request, reason: "Transport", cause })
        }
        if (answer.delay !== undefined) yield* Effect.sleep(answer.delay)
        const text = answer.body === undefined ? "" : typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body)
        return HttpClientResponse.fromWeb(
          request,
          new Response(answer.status === 204 ? null : answer.cutOff === true ? cutOff(text) : text, { status: answer.status, headers: { "content-type": "application/json" } })
        )
      })
    )
    return { seen, layer: Layer.succeed(HttpClient.HttpClient, client) }
  })

/** The field `key` of a JSON object body, or undefined. */
export const field = (body: unknown, key: string): unknown => {
  const object = decodeObject(body)
  return object._tag === "Some" ? object.value[key] : undefined
}

const decodeObject = Schema.decodeUnknownOption(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
