import { HttpClient, HttpClientError, HttpClientResponse } from "@effect/platform"
import { Clock, Effect, Layer, Ref } from "effect"

/**
 * One scripted answer: a status (with a `Location` or a `Retry-After`), a status after `delayMs` of `Clock` time, a transport failure
 * (`ECONNREFUSED`, or the errno given), a request that never answers, or a client that throws (a defect).
 */
export type Answer =
  | number
  | { readonly status: number; readonly location: string }
  | { readonly status: number; readonly delayMs: number }
  | { readonly status: number; readonly retryAfter: string }
  | { readonly errno: string }
  | "network-error"
  | "hang"
  | "defect"

export interface SeenRequest {
  readonly url: string
  readonly at: number
  readonly body: unknown
}

/**
 * An `HttpClient` whose answer depends on the URL and on how many requests came before, recording
 * every request with its `Clock` time.
 */
export const routedClient = (answerFor: (url: string, count: number, body: unknown) => Answer) =>
  Effect.gen(function* () {
    const seen = yield* Ref.make<ReadonlyArray<SeenRequest>>([])
    const client = HttpClient.make((request, url) =>
      Effect.gen(function* () {
        const at = yield* Clock.currentTimeMillis
        const body: unknown = request.body._tag === "Uint8Array" ? JSON.parse(new TextDecoder().decode(request.body.body)) : null
        const count = (yield* Ref.getAndUpdate(seen, (all) => [...all, { url: url.toString(), at, body }])).length
        const answer = answerFor(url.toString(), count, body)
        if (answer === "hang") return yield* Effect.never
        // As Node's client does with a URL it cannot handle: it throws.
        if (answer === "defect") return yield* Effect.die(new TypeError(`Protocol "${url.protocol}" not supported`))
        if (answer === "network-error" || (typeof answer === "object" && "errno" in answer)) {
          // Node puts the errno on the cause, and the message names the URL; the product reads only the errno.
          const code = answer === "network-error" ? "ECONNREFUSED" : answer.errno
          const cause = Object.assign(new Error(`connect ${code} ${url.host}`), { code })
          return yield* new HttpClientError.RequestError({ request, reason: "Transport", cause, description: "connection refused" })
        }
        if (typeof answer === "object" && "delayMs" in answer) {
          yield* Effect.sleep(answer.delayMs)
          return HttpClientResponse.fromWeb(request, new Response(null, { status: answer.status }))
        }
        if (typeof answer === "object" && "retryAfter" in answer) {
          return HttpClientResponse.fromWeb(request, new Response(null, { status: answer.status, headers: { "retry-after": answer.retryAfter } }))
        }
        if (typeof answer === "object") {
          return HttpClientResponse.fromWeb(request, new Response(null, { status: answer.status, headers: { location: answer.location } }))
        }
        return HttpClientResponse.fromWeb(request, new Response(null, { status: answer }))
      })
    )
    return { seen, layer: Layer.succeed(HttpClient.HttpClient, client) }
  })

/** An `HttpClient` that answers from a script, in order; the last answer repeats. */
export const scriptedClient = (script: ReadonlyArray<Answer>) =>
  routedClient((_, count) => script[Math.min(count, script.length - 1)] ?? 200)
