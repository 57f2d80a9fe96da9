/**
 * The local serverless's HTTP surface: what Vast's control plane serves to clients and workers
 * (vast-protocol.md §3.3, §5, §8), plus a status page, its JSON, and a sink for on_close callbacks.
 */
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Effect, Either, Option, Schema } from "effect"
import { DeleteRequestsBody, WorkerStatusBody } from "../protocol/workerStatus.js"
import type { BodyTooLarge } from "../shared/boundedBody.js"
import { boundedRequestJson } from "../shared/boundedRequest.js"
import { browserRefusal, isLoopbackAddress } from "../shared/browserGuard.js"
import { headersForHostCheck, hostProblem, hostProblemMessage } from "../shared/hostHeader.js"
import { firstIssue } from "../shared/firstIssue.js"
import { headerText } from "../shared/headerText.js"
import { json } from "../shared/jsonResponse.js"
import { ClientConnections } from "./ClientConnections.js"
import { RouteRequestIn } from "../protocol/route.js"
import { ControlPlane } from "./ControlPlane.js"
import { EndpointJobAnswer, EndpointJobList } from "../protocol/endpoint.js"
import { statusPage } from "./statusPage.js"

const RouteBody = RouteRequestIn

const EndpointWorkersBody = Schema.Struct({ id: Schema.Int, api_key: Schema.String })

/** 413, and the connection closed after it: the rest of the body is never read. */
const tooLarge = (error: BodyTooLarge) => HttpServerResponse.setHeader(json(413, { error: error.message }), "connection", "close")

/** The body, read within `MAX_REQUEST_BYTES`, decoded with `schema`: a 413 past the limit, else a 422 naming what is wrong. */
const withBody = <A, I, R>(
  schema: Schema.Schema<A, I>,
  handle: (body: A) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
) =>
  HttpServerRequest.HttpServerRequest.pipe(
    Effect.flatMap((request) => boundedRequestJson(request)),
    Effect.flatMap(Schema.decodeUnknown(schema)),
    Effect.matchEffect({
      onFailure: (error) => {
        if (error._tag === "BodyTooLarge") return Effect.succeed(tooLarge(error))
        if (error._tag === "BodyTooDeep") return Effect.succeed(json(422, { error: error.message, field: "body" }))
        const issue = error._tag === "ParseError" ? firstIssue(error) : undefined
        // A body that is not an object at all is said as the worker says it, not as the Schema's whole shape.
        return Effect.succeed(
          issue === undefined
            ? json(422, { error: "invalid JSON" })
            : issue.field === ""
              ? json(422, { error: "the body must be a JSON object", field: "body" })
              : json(422, { error: issue.message, field: issue.field })
        )
      },
      onSuccess: handle
    })
  )

/**
 * The caller's key: `Authorization: Bearer <key>` (the scheme in any case, RFC 9110 §11.1), else `?api_key=` (the
 * SDK sends both). Node reads a header's bytes as Latin-1; they are read again as UTF-8, as the query and the body
 * are, so a key outside ASCII matches however it is sent. A header that is not UTF-8 names no key.
 */
const callerKey = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
  const bearer = /^bearer +(\S+)\s*$/i.exec(request.headers["authorization"] ?? "")
  if (bearer?.[1] !== undefined) return headerText(bearer[1]) ?? ""
  const query = request.url.indexOf("?")
  return query < 0 ? "" : (new URLSearchParams(request.url.slice(query + 1)).get("api_key") ?? "")
})

const serverlessRouter = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/api/v0/endptjobs/",
    Effect.gen(function* () {
      const plane = yield* ControlPlane
      const found = yield* plane.endpoints(yield* callerKey)
      return Option.match(found, {
        onNone: () => json(401, { error: "invalid api key" }),
        onSome: (results) => json(200, Schema.encodeSync(EndpointJobList)({ results }))
      })
    })
  ),
  HttpRouter.get(
    "/api/v0/endptjobs/:id/",
    Effect.gen(function* () {
      const plane = yield* ControlPlane
      const { id } = yield* HttpRouter.params
      const found = yield* plane.endpoints(yield* callerKey)
      // The SDK asks for its endpoint again once its copy is 3 days old, and fails its reservations if it cannot
      // (vast-protocol.md §8.2; sdk51 #1: a dispatcher run for days against this serverless).
      return Option.match(found, {
        onNone: () => json(401, { error: "invalid api key" }),
        onSome: (results) => {
          const job = results.find((candidate) => String(candidate.id) === id)
          return job === undefined ? json(404, { error: "no endpoint with this id", field: "id" }) : json(200, Schema.encodeSync(EndpointJobAnswer)({ result: job }))
        }
      })
    })
  ),
  HttpRouter.post(
    "/route/",
    withBody(RouteBody, (body) =>
      Effect.gen(function* () {
        const plane = yield* ControlPlane
        const connections = yield* ClientConnections
        const answer = yield* plane.route({
          endpoint: body.endpoint,
          apiKey: body.api_key,
          cost: body.cost,
          requestIdx: body.request_idx ?? 0,
          connection: yield* connections.identify(yield* HttpServerRequest.HttpServerRequest)
        })
        return Option.match(answer, {
          onNone: () => json(401, { error: "unknown endpoint or endpoint api_key" }),
          onSome: (routed) => json(200, routed._tag === "Ready" ? routed.authData : routed.body)
        })
      })
    )
  ),
  HttpRouter.get(
    "/pubkey/",
    Effect.map(ControlPlane, (plane) => HttpServerResponse.text(plane.publicKeyPem))
  ),
  HttpRouter.post(
    "/worker_status/",
    withBody(WorkerStatusBody, (status) =>
      Effect.map(
        Effect.flatMap(ControlPlane, (plane) => plane.workerStatus(status)),
        (known) => (known ? json(200, {}) : json(404, { error: "unknown worker or mtoken" }))
      )
    )
  ),
  HttpRouter.post(
    "/delete_requests/",
    withBody(DeleteRequestsBody, (body) =>
      Effect.map(
        Effect.flatMap(ControlPlane, (plane) => plane.deleteRequests(body)),
        (known) => (known ? json(200, {}) : json(404, { error: "unknown worker or mtoken" }))
      )
    )
  ),
  HttpRouter.post(
    "/get_endpoint_workers/",
    withBody(EndpointWorkersBody, (body) =>
      Effect.gen(function* () {
        const plane = yield* ControlPlane
        if (body.id !== 1 || !(yield* plane.endpoints(body.api_key)).pipe(Option.isSome)) {
          return json(200, { error_msg: "endpoint not found" })
        }
        return json(200, yield* plane.endpointWorkers)
      })
    )
  ),
  HttpRouter.post(
    "/callbacks/*",
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const plane = yield* ControlPlane
      const body = yield* Effect.either(boundedRequestJson(request))
      if (Either.isLeft(body) && body.left._tag === "BodyTooLarge") return tooLarge(body.left)
      // Any other body is recorded as it came: the sink shows what a worker sent, JSON or not.
      yield* plane.callback(request.url.split("?", 1)[0] ?? request.url, Either.getOrNull(body))
      return json(200, { ok: true })
    })
  ),
  HttpRouter.get(
    "/metrics",
    Effect.gen(function* () {
      const plane = yield* ControlPlane
      return yield* plane.metricsText.pipe(
        Effect.map((text) => HttpServerResponse.text(text, { contentType: plane.metricsContentType })),
        Effect.catchTag("ExpositionFailed", (error) => Effect.succeed(HttpServerResponse.text(error.message, { status: 500 })))
      )
    })
  ),
  HttpRouter.get("/status", Effect.flatMap(ControlPlane, (plane) => Effect.map(plane.status, (status) => json(200, status)))),
  HttpRouter.get(
    "/",
    Effect.flatMap(ControlPlane, (plane) => Effect.map(plane.status, (status) => HttpServerResponse.html(statusPage(status))))
  )
)

/** The methods the router serves `path` with, read from its own table (a `/*` route serves everything under it). */
/** A route's path as a test of a request's: `:name` stands for one segment, a final `/*` for any rest. */
const pathPattern = (route: string): RegExp => {
  const wildcard = route.endsWith("/*")
  const fixed = (wildcard ? route.slice(0, -1) : route).split("/").map((segment) => (segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
  return new RegExp(`^${fixed.join("/")}${wildcard ? "" : "$"}`)
}

/** Each route's method and its path's test, made once. */
const routePatterns = Array.from(serverlessRouter.routes, (route) => ({ method: route.method, pattern: pathPattern(route.path) }))

const methodsServing = (path: string): ReadonlyArray<string> => {
  const methods = new Set<string>()
  for (const route of routePatterns) if (route.pattern.test(path)) methods.add(route.method)
  return [...methods]
}

/**
 * The router, a request it does not serve answered in JSON as its own refusals are (the platform's 404 has no body):
 * a path it serves with another method is a 405 naming the methods in `Allow` (RFC 9110 §15.5.6), as the worker's is.
 */
const routed = serverlessRouter.pipe(
  Effect.catchTag("RouteNotFound", ({ request }) => {
    const query = request.url.indexOf("?")
    const allowed = methodsServing(query < 0 ? request.url : request.url.slice(0, query))
    return Effect.succeed(
      allowed.length === 0
        ? json(404, { error: "not found" })
        : HttpServerResponse.setHeader(json(405, { error: "method not allowed" }), "allow", allowed.join(", "))
    )
  })
)

/**
 * `routed` behind the guard against web pages (`browserGuard.ts`): the serverless asks for no credentials a page could
 * not guess (the user key is `local` by default), and would otherwise hand a rebinding page its endpoint's key, start
 * workers for it, and show it every callback. `Host` is checked on connections from this machine: one from another
 * (`--host 0.0.0.0`, a worker in a container) may name the machine by a name of the network.
 */
export const serverlessApp = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
  const incoming = NodeHttpServerRequest.toIncomingMessage(request)
  // Two `Host` lines: Node keeps the first, so the check below would read one of two names (probe 44 F2).
  const badHost = hostProblem(incoming)
  if (badHost !== null) return Effect.succeed(json(400, { error: hostProblemMessage[badHost], field: "host" }))
  const { localAddress, remoteAddress } = incoming.socket
  // From this machine: in on loopback, or from one of its own addresses to another (a browser here, through the
  // machine's network address: review 48 L3).
  const fromThisMachine = isLoopbackAddress(localAddress) || (localAddress !== undefined && localAddress === remoteAddress)
  const refusal = browserRefusal(headersForHostCheck(incoming.url ?? "/", incoming.headers), { server: "the local serverless", sameOrigin: true, host: fromThisMachine })
  return refusal === null ? routed : Effect.succeed(json(403, { error: refusal.message, field: refusal.field }))
})
