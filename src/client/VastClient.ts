/**
 * A client for Vast.ai Serverless (vast-protocol.md §8): find an endpoint, route a reservation to a
 * worker, and create, ping, inspect and end sessions on it.
 *
 * Differences from the Python SDK, on purpose: the user's API key goes to the webserver only (never
 * to a worker, never in a query string); waiting for a worker is always bounded by a timeout; a worker
 * that refuses a create (429 and other retryable answers) makes the client route again with the same
 * `request_idx` after a back-off, within that same timeout; and a `/route/` call that fails in a way that may pass
 * (no answer, 408, 429, 5xx), which the SDK treats as fatal, is made again a few times.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Context, Duration, Effect, Layer, ParseResult, Redacted, Schema } from "effect"
import { monotonicMillis } from "../shared/monotonic.js"
import { CreateSessionAnswer, PingAnswer, type AuthData } from "../protocol/session.js"
import { boundedText } from "../shared/boundedBody.js"
import { describeDefect } from "../shared/causeLine.js"
import { isUntrustedCertificate, UNTRUSTED_CERTIFICATE_HINT } from "./untrustedCertificate.js"
import { ROUTE_ATTEMPTS, retryDelay, routePollDelay } from "./backoff.js"
import type { EndpointSettings } from "./endpointSettings.js"
import {
  EndpointNotFound,
  type Operation,
  RequestFailed,
  RouteTimeout,
  SessionClosed,
  SessionUnknown,
  UnexpectedResponse,
  type ReserveError,
  type WorkerError
} from "./errors.js"
import {
  CreateSessionRequest,
  EndSessionAnswer,
  EndpointList,
  EndpointSettingsList,
  PingRequest,
  type RouteAnswer,
  routeAnswerNamesWorker,
  RouteReady,
  RouteRequest,
  RouteWaiting,
  SessionHealthProbe,
  SessionInfoAnswer,
  SessionRefRequest
} from "./wire.js"
import { firstIssue } from "../shared/firstIssue.js"
import { isLoopbackHost } from "../shared/loopbackHost.js"
import { parseBoundedJsonWith } from "../shared/boundedJson.js"
import { jsonText } from "../shared/exactJson.js"
import { withoutSecrets } from "./hiddenSecrets.js"

export interface ClientSettings {
  /** The user's key: sent to the webserver's endpoint list, and nowhere else. */
  readonly apiKey: Redacted.Redacted<string>
  /** `https://console.vast.ai` in production. */
  readonly webserverUrl: string
  /** `https://run.vast.ai` in production. */
  readonly autoscalerUrl: string
  /** Time allowed for one HTTP call, body included (the SDK's 10 s for routing and sessions). */
  readonly callTimeout?: Duration.DurationInput
  /** How the program using this client names the two addresses, for its messages (the command line's flags by default). */
  readonly addressSettingNames?: AddressSettingNames
}

/** What a program calls its setting of each control-plane address (a flag, or an environment variable), and whether it has `--instance local`. */
export interface AddressSettingNames {
  readonly webserverUrl: string
  readonly autoscalerUrl: string
  readonly instanceLocal: boolean
}

const FLAG_NAMES: AddressSettingNames = { webserverUrl: "--webserver-url", autoscalerUrl: "--autoscaler-url", instanceLocal: true }

export interface Endpoint {
  readonly id: number
  readonly name: string
  /** The endpoint's own key, for `/route/`. */
  readonly apiKey: Redacted.Redacted<string>
}

/** A session this client holds on a worker. */
export interface Session {
  readonly sessionId: string
  /** The worker's base URL (`auth_data.url`, without a trailing `/`). */
  readonly url: string
  /** The routing answer, verbatim: the session's `session_auth`. */
  readonly authData: AuthData
  /** Epoch seconds, as the worker said at create. */
  readonly expiration: number
  /** Seconds. */
  readonly lifetime: number
  readonly requestIdx: number
  /** The worker's fencing number for this session (null workers give one; other workers may not). */
  readonly generation?: number | null
}

/** What a worker said to a `/ping` inside a session. */
export interface PingOutcome {
  /** The new deadline (epoch seconds), when the worker said it. */
  readonly expiration: number | null
  /** True when the worker is draining: it takes no new session, and closes this one by its deadline. */
  readonly draining: boolean
}

/** One answer of `/route/`. */
export type Routed =
  | { readonly _tag: "Ready"; readonly authData: AuthData }
  | { readonly _tag: "Waiting"; readonly requestIdx: number | undefined; readonly status: unknown }

/** What happened along the way to a reservation, for display. */
export type ReserveProgress =
  | { readonly _tag: "Routing"; readonly requestIdx: number }
  | {
      readonly _tag: "Waiting"
      readonly requestIdx: number
      readonly attempt: number
      readonly retryIn: Duration.Duration
      readonly status: unknown
    }
  | {
      /**
       * `/route/` failed in a way that may pass (no answer, 408, 429 or 5xx): it is asked again after a back-off, with
       * the same `request_idx`, at most `ROUTE_ATTEMPTS` times in a row.
       */
      readonly _tag: "RouteFailed"
      readonly requestIdx: number
      /** Failures in a row so far, from 1. */
      readonly attempt: number
      /** The autoscaler's status, or null when it did not answer. */
      readonly status: number | null
      readonly detail: string
      readonly retryIn: Duration.Duration
    }
  | {
      readonly _tag: "Refused"
      readonly url: string
      readonly requestIdx: number
      /** 429 when the worker is full; another status, or null when it did not answer. */
      readonly status: number | null
      readonly detail: string
      readonly retryIn: Duration.Duration
    }

/** The result of one `/session/create` call. */
export type CreateOutcome =
  /** `status`: the create's own answer, 201 or (some workers) 200. */
  | { readonly _tag: "Created"; readonly session: Session; readonly status: number }
  | { readonly _tag: "Refused"; readonly error: WorkerError; readonly retryable: boolean }

/** A create that made a session. */
export type Created = Extract<CreateOutcome, { readonly _tag: "Created" }>

export interface ReserveOptions {
  readonly endpoint: Endpoint
  readonly cost: number
  /** Seconds. */
  readonly lifetime: number
  readonly onCloseRoute: string | null
  readonly onClosePayload: unknown
  /** Overall bound on routing, polling and back-off; no new attempt starts after it. */
  readonly timeout: Duration.DurationInput
  readonly onProgress?: (progress: ReserveProgress) => Effect.Effect<void>
  /**
   * Runs each `/session/create` call. The default runs it in place; a caller that must never lose a
   * created session (to interruption, say) runs it where it can register the result first.
   */
  readonly runCreate?: (attempt: Effect.Effect<CreateOutcome>) => Effect.Effect<CreateOutcome>
}

/**
 * `closed-after-cut`: the first `/session/end`'s connection was cut before any answer and the second got `410`: the
 * session is closed, by that first end (its answer lost) or before it; the worker's answer cannot tell which.
 */
export type EndOutcome = "ended" | "already-closed" | "closed-after-cut"

/** What a worker said to `POST /session/health` for a session it does not hold. */
export interface WorkerProbe {
  readonly url: string
  /** True when it answered as a null worker does: `200 {"ok": …}`. */
  readonly answers: boolean
  /** The HTTP status, or null when nothing came back. */
  readonly status: number | null
  /** The answer (shortened), or why there was none. */
  readonly detail: string
}

/** The session id the doctor asks a worker about: no worker holds it, so the answer is `{"ok": false}`. */
export const PROBE_SESSION_ID = "doctor-probe"

export class VastClient extends Context.Tag("client/VastClient")<
  VastClient,
  {
    /** The user's endpoint named exactly `name`. */
    readonly findEndpoint: (name: string) => Effect.Effect<Endpoint, EndpointNotFound | RequestFailed | UnexpectedResponse>
    /** The scaling settings of the user's endpoint named exactly `name`. */
    readonly endpointSettings: (name: string) => Effect.Effect<EndpointSettings, EndpointNotFound | RequestFailed | UnexpectedResponse>
    /** Whether the worker at `url` answers: `POST /session/health` about a session it does not hold. */
    readonly probeWorker: (url: string) => Effect.Effect<WorkerProbe>
    /** One call to `/route/`. */
    readonly route: (endpoint: Endpoint, cost: number, requestIdx: number) => Effect.Effect<Routed, RequestFailed | UnexpectedResponse>
    /**
     * Route until a worker is named, then create a session on it; a refused create routes again with
     * the same `request_idx` after a back-off, and so does a `/route/` failure that may pass (up to
     * `ROUTE_ATTEMPTS` in a row). Fails with `RouteTimeout` once `timeout` has passed.
     */
    readonly reserve: (options: ReserveOptions) => Effect.Effect<Session, ReserveError>
    /** `/ping` inside the session: the worker extends it. `SessionClosed` on 410. */
    readonly ping: (session: Session) => Effect.Effect<PingOutcome, SessionClosed | WorkerError>
    /** `/session/get`: the session as the worker holds it (its current expiration). */
    readonly getSession: (session: Session) => Effect.Effect<SessionInfoAnswer, SessionUnknown | WorkerError>
    /** `/session/end`. A 410 means the worker had closed it already: `already-closed` (or `closed-after-cut`), not a failure. */
    readonly endSession: (session: Session) => Effect.Effect<EndOutcome, SessionUnknown | WorkerError>
    /** `/session/health`: whether the worker still holds the session (it does not extend it). */
    readonly sessionOpen: (session: Session) => Effect.Effect<boolean, WorkerError>
  }
>() {
  static readonly layer = (settings: ClientSettings): Layer.Layer<VastClient, never, HttpClient.HttpClient> =>
    Layer.effect(VastClient, make(settings))
}

/** `200` from `/session/health`. */
const HealthAnswer = Schema.Struct({ ok: Schema.Boolean })

const SNIPPET = 200
const snippet = (text: string): string => (text.length > SNIPPET ? `${text.slice(0, SNIPPET)}…` : text)
/**
 * A web page where an API's answer was due, said as such with its title: its markup echoed had not told a user that
 * another server answers at the address given (newcomer 40 #7).
 */
const htmlPage = (text: string): string | null => {
  if (!/^\s*<(!doctype\s+html|html)[\s>]/i.test(text)) return null
  const title = /<title[^>]*>([^<]{1,200})<\/title>/i.exec(text)?.[1]?.trim() ?? ""
  return `a web page${title === "" ? "" : ` (${JSON.stringify(title)})`}, not an answer of Vast's API or of the local serverless: another server answers at this address`
}
const trimSlash = (url: string): string => url.replace(/\/+$/, "")
/**
 * `path` under `base`: after the base's own path (a proxy's prefix stays), before its query (a proxy's `?token=` is
 * kept on every call). A base that is not a URL is joined as text, for the HTTP client to refuse with its reason.
 */
export const joinPath = (base: string, path: string): string => {
  if (!URL.canParse(base)) return `${trimSlash(base)}${path}`
  const url = new URL(base)
  url.pathname = `${trimSlash(url.pathname)}${path}`
  url.hash = ""
  return url.toString()
}
/** What to do when nothing listens at a control plane on this machine: the flag named is the one for the address that failed. */
export const localControlPlaneHint = (operation: "endpoint lookup" | "route", names: AddressSettingNames = FLAG_NAMES): string =>
  `nothing listens there: start the local serverless (node dist/serverless.js${names.instanceLocal ? ", on port 8080 for --instance local" : ""}), or point ${operation === "route" ? names.autoscalerUrl : names.webserverUrl} at a running one`

const isOk = (status: number): boolean => status >= 200 && status < 300
/** The statuses the SDK retries: the worker may take the next one. */
const isRetryable = (status: number): boolean => status === 408 || status === 429 || status >= 500

/**
 * A `/session/end` failure worth asking again: no answer (a timeout, a cut), 408, 429 or 5xx. A refusal has its own
 * path (`workerGone.ts`), and an untrusted certificate does not change.
 */
export const endMayPass = (error: SessionUnknown | RequestFailed | UnexpectedResponse): boolean =>
  error._tag === "RequestFailed" ? !tlsWillFail(error) && error.refused !== true : error._tag === "UnexpectedResponse" && isRetryable(error.status)

/** A failed TLS set-up that asking again cannot fix: a certificate not trusted, or a server that speaks no TLS. */
const tlsWillFail = (error: RequestFailed): boolean => error.untrusted === true || error.plainHttp === true

/** A `/route/` failure worth asking again: no answer, or a status the SDK's transport retries. */
export const routeMayPass = (error: RequestFailed | UnexpectedResponse): boolean =>
  error._tag === "RequestFailed" ? !tlsWillFail(error) : isRetryable(error.status)

interface Reply {
  readonly status: number
  readonly text: string
}

interface TransportError {
  readonly reason: string
  readonly description?: string | undefined
  readonly cause?: unknown
}

/**
 * What went wrong, without the method and URL the HTTP client's own message repeats (the error names the URL
 * once): its description and what Node said underneath (`connect ECONNREFUSED 127.0.0.1:9`).
 */
const transportDetail = (error: TransportError): string => {
  const parts: Array<string> = []
  if (error.description !== undefined && error.description !== "") parts.push(error.description)
  const cause = error.cause instanceof Error ? tidyTransportMessage(error.cause.message) : ""
  if (cause !== "" && !parts.some((part) => part.includes(cause))) parts.push(cause)
  return parts.length === 0 ? `${error.reason} error` : parts.join(": ")
}

/**
 * Node's message for a failed call, readable: OpenSSL's internal text (`…:error:0A00010B:SSL routines:…:wrong version
 * number:../deps/openssl/….c:350:`) becomes its reason, and a message cut after a colon loses it.
 */
export const tidyTransportMessage = (message: string): string => {
  const ssl = /error:[0-9A-F]+:SSL routines:[^:]*:([^:]+)/.exec(message)
  const text =
    ssl === null
      ? message
      : `TLS failed (${ssl[1]})${ssl[1] === "wrong version number" || ssl[1] === "packet length too long" ? ": the server may speak plain HTTP, not TLS" : ""}`
  return text.replace(/[\s:]+$/, "")
}

/** OpenSSL's reasons when the server answers TLS with something else (plain HTTP at an https URL). */
const NO_TLS = /SSL routines:[^:]*:(?:wrong version number|packet length too long)/

const speaksNoTls = (cause: unknown): boolean => cause instanceof Error && NO_TLS.test(cause.message)

/** The control plane's address refused the connection on this machine: most often the local serverless is not up. */
const refusedLocally = (operation: Operation, url: string, cause: unknown): operation is "endpoint lookup" | "route" =>
  (operation === "endpoint lookup" || operation === "route") &&
  Reflect.get(cause instanceof Error ? cause : {}, "code") === "ECONNREFUSED" &&
  isLoopbackUrl(url)

const isLoopbackUrl = (url: string): boolean => URL.canParse(url) && isLoopbackHost(new URL(url).hostname)

/** A call that got no answer; one refused for its TLS certificate, or by a local control plane that is not up, says what to do. */
const transportFailed = (operation: Operation, url: string, error: TransportError, names: AddressSettingNames): RequestFailed => {
  const detail = transportDetail(error)
  if (isUntrustedCertificate(error.cause)) return new RequestFailed({ operation, url, detail: `${detail}; ${UNTRUSTED_CERTIFICATE_HINT}`, untrusted: true })
  if (speaksNoTls(error.cause)) return new RequestFailed({ operation, url, detail, plainHttp: true })
  if (refusedLocally(operation, url, error.cause)) return new RequestFailed({ operation, url, detail: `${detail}; ${localControlPlaneHint(operation, names)}`, refused: true })
  const code = Reflect.get(error.cause instanceof Error ? error.cause : {}, "code")
  if (code === "ECONNREFUSED") return new RequestFailed({ operation, url, detail, refused: true })
  return code === "ECONNRESET" ? new RequestFailed({ operation, url, detail, cut: true }) : new RequestFailed({ operation, url, detail })
}

/** A call cut before any answer: asked once more, which opens a new connection (the cut one is gone from the pool). */
const cutBeforeAnswer = (error: RequestFailed | UnexpectedResponse): boolean => error._tag === "RequestFailed" && error.cut === true && error.answered === undefined

/** The status a failed call got, if an answer began: an unexpected one, or one cut off on its way. */
const statusOf = (error: RequestFailed | UnexpectedResponse): number | null =>
  error._tag === "UnexpectedResponse" ? error.status : (error.answered ?? null)

/**
 * A failed create after which the worker may hold a session: no answer in time, a connection cut after the request
 * went out (the worker may have answered `201` into it: probe 42 L3), a success cut off on its way, or a success this
 * client cannot read.
 */
export const createMayHaveOpened = (error: WorkerError): boolean =>
  (error._tag === "RequestFailed" && (error.detail.startsWith("no answer within") || error.cut === true)) || isOk(statusOf(error) ?? 0)

/**
 * A create whose answer never came in time, or came as a success cut off on its way or that this client cannot read,
 * may have opened a session on the worker that nobody will end: said, with when the worker closes it by itself.
 */
const mayHoldSession = <E extends RequestFailed | UnexpectedResponse>(error: E, lifetime: number): E => {
  if (!createMayHaveOpened(error)) return error
  const detail = `${error.detail}; the worker may hold a session this client cannot end: it closes it ${lifetime} s after its last ping`
  return (error._tag === "RequestFailed" ? new RequestFailed({ ...error, detail }) : new UnexpectedResponse({ ...error, detail })) as E
}

/** An answer's first decoding problem, in one short line, without the secrets of its call (a value quoted may hold one). */
const answerIssue = (error: ParseResult.ParseError, secrets: ReadonlyArray<string | undefined>): string => {
  const issue = firstIssue(error)
  if (issue === undefined) return "invalid body"
  return snippet(withoutSecrets(issue.field === "" ? `body: ${issue.message}` : issue.message, secrets))
}

export const make = (settings: ClientSettings) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const callTimeout = Duration.decode(settings.callTimeout ?? "10 seconds")
    const settingNames = settings.addressSettingNames ?? FLAG_NAMES
    const webserver = trimSlash(settings.webserverUrl)
    const autoscaler = trimSlash(settings.autoscalerUrl)

    /**
     * One call: status and body text, or `RequestFailed` when nothing (complete) came back in time, or
     * `UnexpectedResponse` for a body past `MAX_ANSWER_BYTES` (no answer of the protocol comes near it).
     * Node's client throws where it cannot make the request (a `ftp:` URL): that is a request that failed,
     * not a bug of this process, so it is a `RequestFailed` too.
     */
    const exchange = (operation: Operation, request: HttpClientRequest.HttpClientRequest, timeout: Duration.Duration = callTimeout) =>
      client.execute(request).pipe(
        Effect.catchAllDefect((defect) => Effect.fail(new RequestFailed({ operation, url: request.url, detail: describeDefect(defect) }))),
        Effect.flatMap((response) =>
          boundedText(response).pipe(
            Effect.map((text): Reply => ({ status: response.status, text })),
            Effect.catchTag("BodyTooLarge", (error) =>
              Effect.fail(new UnexpectedResponse({ operation, url: request.url, status: response.status, detail: error.message }))
            ),
            // The status came, then the body failed: still a call that failed (worth asking again), but one whose status
            // is known (a create that succeeded may hold a session).
            Effect.catchTag("ResponseError", (error) => Effect.fail(new RequestFailed({ ...transportFailed(operation, request.url, error, settingNames), answered: response.status })))
          )
        ),
        Effect.catchTags({
          RequestError: (error) => Effect.fail(transportFailed(operation, request.url, error, settingNames)),
          ResponseError: (error) => Effect.fail(transportFailed(operation, request.url, error, settingNames))
        }),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new RequestFailed({ operation, url: request.url, detail: `no answer within ${Duration.toSeconds(timeout)} s` })
        })
      )

    /**
     * `exchange` for a call whose repeat does no harm (a ping, a read, an end: a session ended once is `410` the second
     * time), asked again when its connection was cut before any answer: a kept connection closed by the worker as the
     * call went out on it (its idle timeout, or its stop) is not a worker that failed. A create is not asked again here:
     * the first may have opened a session.
     */
    const exchangeRepeatable = (operation: Operation, request: HttpClientRequest.HttpClientRequest) =>
      Effect.map(exchangeCounted(operation, request), ({ reply }) => reply)
    /** `exchangeRepeatable`, saying whether the call was asked again. */
    const exchangeCounted = (operation: Operation, request: HttpClientRequest.HttpClientRequest) =>
      exchange(operation, request).pipe(
        Effect.map((reply) => ({ reply, repeated: false })),
        Effect.catchIf(cutBeforeAnswer, () => Effect.map(exchange(operation, request), (reply) => ({ reply, repeated: true })))
      )

    /** The user's key, hidden from every answer shown; `extra`: what else the call sent that is secret. */
    const secretsOf = (...extra: ReadonlyArray<string | undefined>): ReadonlyArray<string | undefined> => [Redacted.value(settings.apiKey), ...extra]

    const decode =
      <A, I>(schema: Schema.Schema<A, I>, operation: Operation, url: string, secrets: ReadonlyArray<string | undefined>) =>
      (reply: Reply): Effect.Effect<A, UnexpectedResponse> =>
        decodeAs(Schema.decodeUnknown(parseBoundedJsonWith(schema))(reply.text), operation, url, reply, secrets)

    /** An answer already parsed, decoded against one shape. */
    const decodeParsed =
      <A, I>(schema: Schema.Schema<A, I>, operation: Operation, url: string, reply: Reply, secrets: ReadonlyArray<string | undefined>) =>
      (value: unknown): Effect.Effect<A, UnexpectedResponse> =>
        decodeAs(Schema.decodeUnknown(schema)(value), operation, url, reply, secrets)

    const decodeAs = <A>(decoded: Effect.Effect<A, ParseResult.ParseError>, operation: Operation, url: string, reply: Reply, secrets: ReadonlyArray<string | undefined>) =>
      Effect.mapError(decoded, (error) => new UnexpectedResponse({ operation, url, status: reply.status, detail: htmlPage(withoutSecrets(reply.text, secrets)) ?? answerIssue(error, secrets) }))

    /** What a refusal's body said, without the secrets its call sent (an error page may echo the request). */
    const shownBody = (reply: Reply, secrets: ReadonlyArray<string | undefined>): string => {
      const text = withoutSecrets(reply.text, secrets)
      return htmlPage(text) ?? (snippet(text) || "empty body")
    }

    const unexpected = (operation: Operation, url: string, reply: Reply, secrets: ReadonlyArray<string | undefined>) =>
      new UnexpectedResponse({ operation, url, status: reply.status, detail: shownBody(reply, secrets) })

    /**
     * A POST to a worker: JSON only. No API key, in the URL or in a header. Written with `jsonText`, so that an
     * `auth_data` holding an integer past 2^53 reaches the worker as the autoscaler wrote it.
     */
    const workerPost = <A, I>(url: string, path: string, schema: Schema.Schema<A, I>, body: A) =>
      Schema.encode(schema)(body).pipe(
        Effect.map((encoded) =>
          HttpClientRequest.post(joinPath(url, path)).pipe(HttpClientRequest.acceptJson, HttpClientRequest.bodyText(jsonText(encoded) ?? "null", "application/json"))
        ),
        // Our own values always encode.
        Effect.orDie
      )

    /** The user's endpoint list, decoded with `schema`. */
    const endpointList = <A, I>(schema: Schema.Schema<A, I>) =>
      Effect.gen(function* () {
        const url = joinPath(webserver, "/api/v0/endptjobs/")
        const request = HttpClientRequest.get(url).pipe(
          HttpClientRequest.setUrlParam("client_id", "me"),
          HttpClientRequest.bearerToken(settings.apiKey),
          HttpClientRequest.acceptJson
        )
        const reply = yield* exchange("endpoint lookup", request)
        if (!isOk(reply.status)) return yield* unexpected("endpoint lookup", url, reply, secretsOf())
        return yield* decode(schema, "endpoint lookup", url, secretsOf())(reply)
      })

    const findEndpoint = Effect.fn("VastClient.findEndpoint")(function* (name: string) {
      const list = yield* endpointList(EndpointList)
      const found = list.results.find((record) => record.endpoint_name === name)
      if (found === undefined) return yield* new EndpointNotFound({ name, known: list.results.map((record) => record.endpoint_name) })
      return { id: found.id, name: found.endpoint_name, apiKey: found.api_key } satisfies Endpoint
    })

    const endpointSettings = Effect.fn("VastClient.endpointSettings")(function* (name: string) {
      const list = yield* endpointList(EndpointSettingsList)
      const found = list.results.find((record) => record.endpoint_name === name)
      if (found === undefined) return yield* new EndpointNotFound({ name, known: list.results.map((record) => record.endpoint_name) })
      return {
        id: found.id,
        name: found.endpoint_name,
        state: found.endpoint_state ?? null,
        settings: {
          target_util: found.target_util ?? null,
          min_load: found.min_load ?? null,
          cold_workers: found.cold_workers ?? null,
          inactivity_timeout: found.inactivity_timeout ?? null,
          max_queue_time: found.max_queue_time ?? null,
          target_queue_time: found.target_queue_time ?? null,
          max_workers: found.max_workers ?? null
        }
      } satisfies EndpointSettings
    })

    const probeWorker = Effect.fn("VastClient.probeWorker")(function* (url: string) {
      const request = yield* workerPost(url, "/session/health", SessionHealthProbe, { session_id: PROBE_SESSION_ID })
      const reply = yield* Effect.either(exchange("session/health", request))
      if (reply._tag === "Left") {
        // An answer this client would not read (past its size limit, or cut off) still came: its status is said, not "no answer".
        const status = statusOf(reply.left)
        return { url, answers: false, status, detail: reply.left.detail } satisfies WorkerProbe
      }
      const answered = yield* Effect.either(decode(HealthAnswer, "session/health", request.url, secretsOf())(reply.right))
      return {
        url,
        // A null worker holds no session by that id: `{"ok": true}` comes from something else.
        answers: reply.right.status === 200 && answered._tag === "Right" && !answered.right.ok,
        status: reply.right.status,
        detail: shownBody(reply.right, secretsOf())
      } satisfies WorkerProbe
    })

    const route = Effect.fn("VastClient.route")(function* (endpoint: Endpoint, cost: number, requestIdx: number) {
      const url = joinPath(autoscaler, "/route/")
      const request = yield* HttpClientRequest.post(url).pipe(
        HttpClientRequest.acceptJson,
        HttpClientRequest.schemaBodyJson(RouteRequest)({
          endpoint: endpoint.name,
          api_key: Redacted.value(endpoint.apiKey),
          cost,
          request_idx: requestIdx,
          replay_timeout: 60
        }),
        Effect.orDie
      )
      const reply = yield* exchange("route", request)
      const secrets = secretsOf(Redacted.value(endpoint.apiKey))
      if (!isOk(reply.status)) return yield* unexpected("route", url, reply, secrets)
      const parsed = yield* decode(Schema.Unknown, "route", url, secrets)(reply)
      const answer: RouteAnswer = routeAnswerNamesWorker(parsed)
        ? yield* decodeParsed(RouteReady, "route", url, reply, secrets)(parsed)
        : yield* decodeParsed(RouteWaiting, "route", url, reply, secrets)(parsed)
      return typeof answer.url === "string" && "signature" in answer
        ? ({ _tag: "Ready", authData: answer } satisfies Routed)
        : ({ _tag: "Waiting", requestIdx: answer.request_idx, status: answer["status"] } satisfies Routed)
    })

    const createOnce = (authData: AuthData, options: ReserveOptions): Effect.Effect<CreateOutcome> =>
      Effect.gen(function* () {
        const request = yield* workerPost(authData.url, "/session/create", CreateSessionRequest, {
          auth_data: authData,
          payload: { lifetime: options.lifetime, on_close_route: options.onCloseRoute, on_close_payload: options.onClosePayload },
          session_id: null
        })
        const reply = yield* exchange("session/create", request)
        const secrets = secretsOf(authData.signature)
        if (reply.status !== 201 && reply.status !== 200) {
          return {
            _tag: "Refused",
            error: unexpected("session/create", request.url, reply, secrets),
            retryable: isRetryable(reply.status)
          } satisfies CreateOutcome
        }
        const created = yield* decode(CreateSessionAnswer, "session/create", request.url, secrets)(reply)
        const session: Session = {
          sessionId: created.session_id,
          url: trimSlash(authData.url),
          authData,
          expiration: created.expiration,
          lifetime: options.lifetime,
          requestIdx: authData.request_idx,
          generation: created.generation ?? null
        }
        return { _tag: "Created", session, status: reply.status } satisfies CreateOutcome
      }).pipe(
        Effect.catchAll((error) =>
          Effect.succeed<CreateOutcome>({
            _tag: "Refused",
            error: mayHoldSession(error, options.lifetime),
            retryable: error._tag === "RequestFailed" && !tlsWillFail(error)
          })
        ),
        Effect.withSpan("VastClient.createSession")
      )

    const reserve = Effect.fn("VastClient.reserve")(function* (options: ReserveOptions) {
      const report = options.onProgress ?? (() => Effect.void)
      const runCreate = options.runCreate ?? ((attempt: Effect.Effect<CreateOutcome>) => attempt)
      const timeout = Duration.decode(options.timeout)
      const deadline = (yield* monotonicMillis) + Duration.toMillis(timeout)
      let requestIdx = 0
      let last = "waiting"
      const timedOut = () => new RouteTimeout({ seconds: Duration.toSeconds(timeout), requestIdx, last })
      /** Sleep `delay`, unless the deadline comes first: then sleep until it and fail. */
      const sleepWithin = (delay: Duration.Duration) =>
        Effect.gen(function* () {
          const remaining = deadline - (yield* monotonicMillis)
          if (Duration.toMillis(delay) < remaining) return yield* Effect.sleep(delay)
          yield* Effect.sleep(Duration.millis(Math.max(0, remaining)))
          return yield* timedOut()
        })
      const remaining = Effect.map(monotonicMillis, (now) => Duration.millis(Math.max(0, deadline - now)))

      /**
       * Poll `/route/` until it names a worker. A failure that may pass (no answer, 408, 429, 5xx: a load balancer's
       * 502 while the autoscaler restarts) is asked again after a back-off, up to `ROUTE_ATTEMPTS` in a row; any
       * other failure ends the reservation at once.
       */
      const routeUntilReady = Effect.gen(function* () {
        yield* report({ _tag: "Routing", requestIdx })
        let polls = 0
        let failures = 0
        for (;;) {
          const left = yield* remaining
          if (Duration.toMillis(left) === 0) return yield* timedOut()
          const answer = yield* route(options.endpoint, options.cost, requestIdx).pipe(
            Effect.timeoutFail({ duration: left, onTimeout: timedOut }),
            Effect.catchTags({
              RequestFailed: (error) => Effect.succeed(error),
              UnexpectedResponse: (error) => Effect.succeed(error)
            })
          )
          if (answer._tag === "Ready") return answer.authData
          if (answer._tag === "Waiting") {
            failures = 0
            requestIdx = answer.requestIdx ?? requestIdx
            last = "waiting"
            const retryIn = yield* routePollDelay(polls)
            yield* report({ _tag: "Waiting", requestIdx, attempt: polls++, retryIn, status: answer.status })
            yield* sleepWithin(retryIn)
            continue
          }
          failures++
          if (!routeMayPass(answer) || failures >= ROUTE_ATTEMPTS) return yield* answer
          last = answer.message
          const retryIn = yield* retryDelay(failures - 1)
          const status = statusOf(answer)
          yield* report({ _tag: "RouteFailed", requestIdx, attempt: failures, status, detail: answer.message, retryIn })
          yield* sleepWithin(retryIn)
        }
      })

      for (let refusals = 0; ; refusals++) {
        const authData = yield* routeUntilReady
        requestIdx = authData.request_idx
        const outcome = yield* runCreate(createOnce(authData, options))
        if (outcome._tag === "Created") return outcome.session
        if (!outcome.retryable) return yield* outcome.error
        const status = statusOf(outcome.error)
        last = status === 429 ? "worker full" : outcome.error.message
        const retryIn = yield* retryDelay(refusals)
        yield* report({
          _tag: "Refused",
          url: trimSlash(authData.url),
          requestIdx,
          status,
          detail: status === 429 ? "worker full" : outcome.error.message,
          retryIn
        })
        yield* sleepWithin(retryIn)
      }
    })

    const ping = Effect.fn("VastClient.ping")(function* (session: Session) {
      const request = yield* workerPost(session.url, "/ping", PingRequest, {
        auth_data: session.authData,
        payload: {},
        session_id: session.sessionId
      })
      const reply = yield* exchangeRepeatable("ping", request)
      const secrets = secretsOf(session.authData.signature)
      if (reply.status === 410) return yield* new SessionClosed({ sessionId: session.sessionId })
      if (!isOk(reply.status)) return yield* unexpected("ping", request.url, reply, secrets)
      // Only the status counts for the SDK; a body that does not say more says nothing more.
      const answer = yield* Effect.option(decode(PingAnswer, "ping", request.url, secrets)(reply))
      return {
        expiration: answer._tag === "Some" ? (answer.value.expiration ?? null) : null,
        draining: answer._tag === "Some" && answer.value.draining === true
      } satisfies PingOutcome
    })

    const getSession = Effect.fn("VastClient.getSession")(function* (session: Session) {
      const request = yield* workerPost(session.url, "/session/get", SessionRefRequest, {
        session_id: session.sessionId,
        session_auth: session.authData
      })
      const reply = yield* exchangeRepeatable("session/get", request)
      const secrets = secretsOf(session.authData.signature)
      if (reply.status === 400) return yield* new SessionUnknown({ operation: "session/get", sessionId: session.sessionId })
      if (!isOk(reply.status)) return yield* unexpected("session/get", request.url, reply, secrets)
      return yield* decode(SessionInfoAnswer, "session/get", request.url, secrets)(reply)
    })

    const endSession = Effect.fn("VastClient.endSession")(function* (session: Session) {
      const request = yield* workerPost(session.url, "/session/end", SessionRefRequest, {
        session_id: session.sessionId,
        session_auth: session.authData
      })
      const { reply, repeated } = yield* exchangeCounted("session/end", request)
      const secrets = secretsOf(session.authData.signature)
      if (reply.status === 410) return (repeated ? "closed-after-cut" : "already-closed") satisfies EndOutcome
      if (reply.status === 400) return yield* new SessionUnknown({ operation: "session/end", sessionId: session.sessionId })
      if (!isOk(reply.status)) return yield* unexpected("session/end", request.url, reply, secrets)
      if (reply.text !== "") yield* decode(EndSessionAnswer, "session/end", request.url, secrets)(reply)
      return "ended" satisfies EndOutcome
    })

    const sessionOpen = Effect.fn("VastClient.sessionOpen")(function* (session: Session) {
      const request = yield* workerPost(session.url, "/session/health", SessionRefRequest, {
        session_id: session.sessionId,
        session_auth: session.authData
      })
      const reply = yield* exchangeRepeatable("session/health", request)
      const secrets = secretsOf(session.authData.signature)
      if (!isOk(reply.status)) return yield* unexpected("session/health", request.url, reply, secrets)
      return (yield* decode(HealthAnswer, "session/health", request.url, secrets)(reply)).ok
    })

    return VastClient.of({ findEndpoint, endpointSettings, probeWorker, route, reserve, ping, getSession, endSession, sessionOpen })
  })
