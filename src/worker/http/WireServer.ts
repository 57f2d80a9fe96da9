/**
 * A thin Effect layer over `node:http` for the worker's wire routes: a route table keyed by path, bodies
 * read with a size limit and parsed with a nesting limit, one Effect per request run on the service's
 * runtime, and one function (`errorResponse`) that turns every typed failure into its answer.
 *
 * Why not `@effect/platform`'s `HttpServer`: on the session path it measured 0.23–0.28 of a bare
 * `node:http` server's throughput (`../shared/bench/ab.mjs`), most of it per-request fiber machinery,
 * request/response wrappers and middleware we do not use; the protocol wants a 0.70–0.90 ratio. Here a
 * request costs one fiber run synchronously to its end. The worker's non-wire needs (TLS, timeouts, a
 * connection cap, bounded shutdown) are Node server settings either way.
 *
 * Listeners own their sockets: `close` stops accepting, closes idle keep-alive connections at once and
 * destroys busy ones after a grace period, so no client (silent, half-sent headers, slow body, unfinished
 * TLS handshake) can hold the process.
 */
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from "node:http"
import { isUtf8 } from "node:buffer"
import { createServer as createHttpServer, STATUS_CODES } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { Socket } from "node:net"
import { Cause, Data, Deferred, Duration, Effect, Either, Exit, FiberSet, Option, Runtime, Schedule, type Scope } from "effect"
import { attachedAnswer } from "../../shared/attachedAnswer.js"
import { MAX_BODY_PIECES } from "../../shared/bodyPieces.js"
import { declaresBody } from "../../shared/declaresBody.js"
import { headersForHostCheck, hostProblem } from "../../shared/hostHeader.js"
import { parseBoundedJson } from "../../shared/boundedJson.js"
import { OnePerTurn } from "./onePerTurn.js"
import { retryNotices } from "../../shared/retryNotices.js"
import { ChunkAccumulator } from "../../shared/chunkAccumulator.js"
import { makeLingeringClose } from "../../shared/lingeringClose.js"
import { unsafeMonotonicMillis } from "../../shared/monotonic.js"
import {
  BodiesInFlightFull,
  BodyTooDeep,
  BodyInTooManyPieces,
  BodyTooLarge,
  HeadersTooLarge,
  AnswerNotTaken,
  MalformedRequest,
  BadHost,
  refusals,
  RequestTimedOut,
  TunnelNotServed,
  type RouteError,
  UnsupportedCoding,
  UnsupportedExpectation
} from "../errors.js"
import { type BodyBudget, makeBodyBudget } from "./bodyBudget.js"
import { errorResponse, type WireResponse } from "./errorResponse.js"
import { makeIdleConnections } from "./idleConnections.js"
import { clientOf } from "./clientAddress.js"
import { answerBytes, LARGE_ANSWER_CHARS, makeHeldAnswers, QUEUED_ANSWER_BYTES, type Refusal } from "./heldAnswers.js"
import { type BodyProgress, makeStalledBodies } from "./stalledBodies.js"

export interface WireRequest {
  readonly method: string
  readonly path: string
  /** The query string without `?` ("" when none). Routing never looks at it. */
  readonly query: string
  readonly headers: IncomingHttpHeaders
  /** The parsed JSON body; `undefined` when the request had no body (or the route ignores it). */
  readonly body: unknown
}

export interface WireRoute {
  readonly method: "GET" | "POST"
  /** `json`: the body is read and parsed; `none`: it is not read (Node discards it). */
  readonly body: "json" | "none"
  readonly handle: (request: WireRequest) => Effect.Effect<WireResponse, RouteError>
  /** Interrupt the handler when the client goes away (long polls). */
  readonly interruptOnClose?: boolean
  /** The refusal of a body that is not JSON, when the route says more than the protocol's bare `invalid JSON`. */
  readonly notJson?: RouteError
  /** A body that is not JSON (or nested too deep) is handed on as its text, not refused: a route that takes any body. */
  readonly notJsonAsText?: boolean
  /**
   * Costly to build: refused (429) while an answer before it on its connection is not yet written whole, or one its
   * client has not taken is held, so that requests pipelined by a client that reads nothing are not built one after
   * another (probe 52 L4). A client that reads each answer before it asks again is never refused.
   */
  readonly costly?: boolean
}

export type RouteTable = ReadonlyMap<string, WireRoute>

export interface WireLimits {
  readonly maxBodyBytes: number
  /**
   * The pieces (`data` events: TCP reads, or chunks of a chunked body) a body may come in. A body a byte at a time costs
   * the parser and this server ~65 times the CPU of one piece, and holds every other client back meanwhile (probe 39 I2).
   */
  readonly maxBodyPieces: number
  readonly maxJsonDepth: number
  /**
   * Open connections at most. At the cap a new connection is let in by closing the one idle the longest, if it has
   * been idle `idleEvictionMs` or more (`idleConnections.ts`); otherwise it is refused, and that is logged.
   */
  readonly maxConnections: number
  readonly idleEvictionMs: number
  /** Time a client has to send complete request headers (also bounds a silent connection). */
  readonly headersTimeoutMs: number
  /** Time a client has to send a whole request. */
  readonly requestTimeoutMs: number
  /**
   * How long an idle keep-alive connection stays open. aiohttp's 75 s: a client's pool (the SDK's aiohttp keeps
   * idle connections 15 s) then always closes first, so a request is never sent on a connection the server is closing.
   */
  readonly keepAliveTimeoutMs: number
  /**
   * How long a connection with a request in progress may pass with no traffic either way before it is destroyed (0:
   * never). Node stops reading a connection whose answers the client does not read; no other limit runs then, so a
   * client that pipelines requests and never reads would hold its connection, and enough of them the whole cap.
   */
  readonly stallTimeoutMs: number
  /**
   * Bytes of answers not yet taken by their clients (`heldAnswers.ts`) a connection may hold, past which its next
   * request does not run and it takes no more (closed once the answers before are written, at once past twice that);
   * and all the listener's connections together, past which connections are closed, the least likely to be read first,
   * those of a client (an address, an IPv6 /64) holding more than `maxHeldAnswerBytesPerClient` before any other's.
   */
  readonly maxHeldAnswerBytesPerConnection: number
  readonly maxHeldAnswerBytesPerClient: number
  readonly maxHeldAnswerBytes: number
}

export const defaultLimits: WireLimits = {
  maxBodyBytes: 1024 * 1024,
  maxBodyPieces: MAX_BODY_PIECES,
  maxJsonDepth: 64,
  maxConnections: 512,
  idleEvictionMs: 5_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 75_000,
  stallTimeoutMs: 30_000,
  // Four `/session/get`s of a session with a 1 MiB payload asked in one go; some 3,000 short answers, more than a read
  // of requests holds.
  maxHeldAnswerBytesPerConnection: 8 * 1024 * 1024,
  // Two connections' shares: a client reading slowly on one or two is not among the first closed.
  maxHeldAnswerBytesPerClient: 16 * 1024 * 1024,
  maxHeldAnswerBytes: 64 * 1024 * 1024
}

export interface WireServerOptions {
  readonly name: string
  /** The address to listen on; none is every address of both families (`::`, or `0.0.0.0` on a host without IPv6). */
  readonly host: string | undefined
  readonly port: number
  /** The setting that chose `port` (`WORKER_PORT`), named when the port cannot be bound. */
  readonly portSetting?: string
  readonly routes: RouteTable
  readonly limits?: Partial<WireLimits>
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer }
  /** The budget of bodies being received, shared with other listeners (`bodyBudget.ts`); a listener's own by default. */
  readonly bodyBudget?: BodyBudget
  /** Where large parses wait for their turn: the process's one queue by default (a test turns its own by hand). */
  readonly turns?: OnePerTurn
  /** Refuses a request before it is routed (its headers only): the control port's `localOnly.ts`. */
  readonly guard?: (headers: IncomingHttpHeaders) => RouteError | null
  /** Called with the route (its path, or `other`) and the status of every answer. */
  readonly onAnswer?: (route: string, status: number) => void
  /** A taken port is tried this many times in all, `bindRetryDelay` apart, before the listener fails. */
  readonly bindAttempts?: number
  readonly bindRetryDelay?: Duration.DurationInput
  /** The setting that chose how long a taken port is tried (`BIND_RETRY_SECONDS`), named when it is. */
  readonly bindRetrySetting?: string
}

export interface WireListener {
  readonly name: string
  readonly port: number
  /** Open connections now. */
  readonly connections: Effect.Effect<number>
  /** Bytes of answers its connections hold not yet taken by their clients (`heldAnswers.ts`). */
  readonly heldAnswerBytes: Effect.Effect<number>
  /**
   * From now on every answer says `Connection: close` and its connection closes after it (a stop has begun): clients
   * move to new connections, which the closed listener will refuse cleanly, instead of sending their next request on a
   * kept one that the close would reset.
   */
  readonly closeAfterAnswers: Effect.Effect<void>
  /** Stop accepting; idle connections close at once, busy ones after `grace`. Idempotent. */
  readonly close: (grace: Duration.DurationInput) => Effect.Effect<void>
}

/** A listener could not bind (`code` is Node's, e.g. `EADDRINUSE`). */
export class ListenFailed extends Data.TaggedError("ListenFailed")<{
  readonly name: string
  readonly host: string
  readonly port: number
  readonly code: string
  readonly message: string
}> {}

/**
 * What each body may hold without charging the budget: a create or an end is a few hundred bytes, so a flood of
 * large bodies cannot keep them out. The connection caps bound what these allowances add up to.
 */
const FREE_BODY_BYTES = 16 * 1024

/**
 * Past this, a body's parse waits for its turn (`OnePerTurn`): the protocol's bodies are a few hundred bytes, a create's
 * with a large `on_close_payload` the exception. The free allowance's size: the work parsed as it comes is bounded by
 * the connection cap times this (review 57 M1: at 64 KiB, bodies just under it still held a ping a second).
 */
const LARGE_BODY_BYTES = FREE_BODY_BYTES

/** Large parses: one per turn of the loop, for every listener of the process (the loop is one). */
const processTurns = new OnePerTurn()

/** Without a budget given, a listener's own holds this many bodies of its limit. */
const DEFAULT_BUDGET_BODIES = 64

/** How often Node checks header and request timeouts; its default (30 s) makes them four times looser. */
const TIMEOUT_CHECK_MS = 1_000

/**
 * The request target in origin form. A target in absolute form (`POST http://host:port/path`, which a server must
 * accept: RFC 9112 §3.2.2) is routed by its path, as aiohttp routes it. Origin form, all but every request, is
 * returned as it came, but for a fragment.
 */
const originForm = (target: string): string => {
  if (target.charCodeAt(0) === 47) {
    // A fragment is no part of a request target (RFC 9112 §3.2), but Node's parser lets one through; aiohttp drops it.
    const fragment = target.indexOf("#")
    return fragment < 0 ? target : target.slice(0, fragment)
  }
  if (!/^https?:\/\//i.test(target) || !URL.canParse(target)) return target
  const parsed = new URL(target)
  return `${parsed.pathname}${parsed.search}`
}

/** aiohttp's `json_response` content type, which Python clients of the framework see (vast-protocol.md §2.1). */
const JSON_CONTENT_TYPE = "application/json; charset=utf-8"

/** A body being read: its answer, and how to end the reading with another answer. */
interface BodyReading extends BodyProgress {
  readonly res: ServerResponse
  /** Its route's path, under which its answer is counted. */
  readonly path: string
  readonly refuse: (response: WireResponse) => void
}

/** `error`'s answer, after which the connection closes (a body the request may still send is not read). */
const closingAnswer = (error: RouteError): WireResponse => ({ ...errorResponse(error), headers: { connection: "close" } })

/** `response`, saying `Connection: close`. */
const closingConnection = (response: WireResponse): WireResponse =>
  response.headers?.["connection"] === "close" ? response : { ...response, headers: { ...response.headers, connection: "close" } }

/** The path of a request target, its query cut. */
const pathOf = (target: string): string => {
  const mark = target.indexOf("?")
  return mark < 0 ? target : target.slice(0, mark)
}

const tunnelRefused = errorResponse(new TunnelNotServed())

/** A JSON refusal as the bytes written to a socket Node's server no longer answers on (its parser failed, or a CONNECT). */
const closingRawAnswer = (refusal: WireResponse): string => {
  const body = refusal.body ?? ""
  return `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ""}\r\nconnection: close\r\ncontent-type: ${JSON_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}
const contentEncoded = closingAnswer(new UnsupportedCoding({ field: "content-encoding" }))
const transferEncoded = closingAnswer(new UnsupportedCoding({ field: "transfer-encoding" }))

/** Node's parser's words for a request it refused (`Invalid method encountered`), printable and short; else its code. */
const parserReason = (error: NodeJS.ErrnoException): string => {
  const reason = (error as { readonly reason?: unknown }).reason
  const text = typeof reason === "string" && reason !== "" ? reason : (error.code ?? "unreadable")
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 100)
}

/**
 * The answer to a body in a coding that is not decoded here, or null. Node's parser takes `Transfer-Encoding: gzip,
 * chunked` as chunked and passes `Content-Encoding` on: read as they come, such bodies would be parsed as plain text.
 * Refused without reading the body, whose connection then closes.
 */
const unsupportedCoding = (headers: IncomingHttpHeaders): WireResponse | null => {
  const content = headers["content-encoding"]
  if (content !== undefined && content.trim().toLowerCase() !== "identity" && content.trim() !== "") return contentEncoded
  const transfer = headers["transfer-encoding"]
  if (transfer !== undefined && transfer.split(",").some((coding) => coding.trim().toLowerCase() !== "chunked")) return transferEncoded
  return null
}

/** Whether `bytes` are all JSON's white space (space, tab, LF, CR: RFC 8259 §2). */
const isJsonWhiteSpace = (bytes: Uint8Array): boolean => {
  for (const byte of bytes) if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return false
  return true
}

/** Only there to make Node read a TLS socket as a stream (`secureConnection`). */
const readByNode = () => undefined

const isEither = <A, E>(effect: Effect.Effect<A, E>): effect is Either.Either<A, E> => Either.isEither(effect)

/**
 * A large answer is written in pieces of this many characters, each, once the socket has taken it, progress for its
 * connection: a client reading slowly makes progress piece by piece, not once an answer (`heldAnswers.ts`, probe 48 F2).
 */
const PIECE_CHARS = 64 * 1024

/**
 * Writes `body` a piece at a time, the next once the socket has taken the one before (pieces written together would
 * go out as one write, taken all at once), `taken` told of each.
 */
const writeInPieces = (res: ServerResponse, body: string, taken: () => void) => {
  let at = 0
  const next = (error?: Error | null) => {
    // Its connection has gone: what it held is given back at its close.
    if (error !== undefined && error !== null) return
    if (at >= body.length) return void res.end()
    let end = Math.min(at + PIECE_CHARS, body.length)
    // Each piece is encoded on its own: never between the two halves of a surrogate pair.
    const last = body.charCodeAt(end - 1)
    if (end < body.length && last >= 0xd800 && last <= 0xdbff) end -= 1
    const piece = body.slice(at, end)
    at = end
    res.write(piece, (failed) => {
      if (failed === undefined || failed === null) taken()
      next(failed)
    })
  }
  next()
}

const writeResponse = (res: ServerResponse, response: WireResponse, taken?: () => void) => {
  if (res.headersSent || res.destroyed) return
  // The headers object is built in one literal (most answers have no extra headers): this runs for every answer.
  const extra = response.headers
  if (response.body === null) {
    res.writeHead(response.status, extra === undefined ? { "content-length": 0 } : { ...extra, "content-length": 0 })
    res.end()
  } else {
    const contentType = response.contentType ?? JSON_CONTENT_TYPE
    const contentLength = Buffer.byteLength(response.body)
    res.writeHead(
      response.status,
      extra === undefined
        ? { "content-type": contentType, "content-length": contentLength }
        : { ...extra, "content-type": contentType, "content-length": contentLength }
    )
    if (taken === undefined) res.end(response.body)
    else writeInPieces(res, response.body, taken)
  }
}

const json = (status: number, body: unknown, headers?: Record<string, string>): WireResponse => ({
  status,
  body: JSON.stringify(body),
  ...(headers === undefined ? {} : { headers })
})

/** Serve `options.routes` until the scope closes. */
export const serve = (options: WireServerOptions): Effect.Effect<WireListener, ListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const limits = { ...defaultLimits, ...options.limits }
    const runtime = yield* Effect.runtime<never>()
    const runCallback = Runtime.runCallback(runtime)
    // Work started from Node's callbacks (logs about the listener) lives in the listener's scope.
    const background = yield* FiberSet.make()
    const runFork = yield* FiberSet.runtime(background)<never>()
    const sockets = new Set<Socket>()
    const clock = yield* Effect.clock
    // Request-level sockets; for TLS the TCP socket while its handshake runs, then the TLS socket.
    const idle = makeIdleConnections<Socket>(limits.idleEvictionMs, () => unsafeMonotonicMillis(clock))
    /** Connections closed for a newcomer at the cap and not yet gone: no longer counted against it. */
    let evicting = 0
    /** The long polls waiting on each socket, cancelled together when it closes. */
    const pollsBySocket = new WeakMap<Socket, Set<() => void>>()
    const onAnswer = options.onAnswer
    const guard = options.guard
    const refusedByGuard = (req: IncomingMessage): RouteError | null =>
      guard === undefined ? null : guard(headersForHostCheck(req.url ?? "/", req.headers))
    // A body over the limit is answered at once, and the connection closed: reading it to the end would cost what the
    // limit protects.
    const tooLarge = closingAnswer(new BodyTooLarge({ limit: limits.maxBodyBytes }))
    const tooManyPieces = closingAnswer(new BodyInTooManyPieces({ limit: limits.maxBodyPieces }))
    const internalError = json(500, { error: "internal error" })
    const budget = options.bodyBudget ?? makeBodyBudget(DEFAULT_BUDGET_BODIES * limits.maxBodyBytes)
    const turns = options.turns ?? processTurns
    // Bodies waiting for their turn, by connection: a body behind one on its connection waits too, whatever its size, so
    // that pipelined requests take effect in their order (review 57 L2: a small end overtook a large ping).
    const waitingOn = new WeakMap<Socket, number>()
    // Past the budget the body is not read: its connection is closed, so what it was sending is dropped with it.
    const bodiesFull = closingAnswer(new BodiesInFlightFull({ limit: budget.max }))
    let warnedBodiesFull = false
    const warnBodiesFull = () => {
      if (warnedBodiesFull) return
      warnedBodiesFull = true
      runFork(
        Effect.logWarning(`${options.name}: request bodies being received reached their budget; refusing more with 503`, {
          max_bytes: budget.max
        }).pipe(
          Effect.zipRight(Effect.sleep("1 minute")),
          Effect.ensuring(Effect.sync(() => (warnedBodiesFull = false)))
        )
      )
    }
    /**
     * The request whose body a connection is reading, until the body's end: a parse error or a stall before that is the
     * body's own, answered by `refuse`. (Its budget is given back when the connection closes: the request then fails,
     * `req.on("error")`.)
     */
    const readingBody = new WeakMap<Socket, BodyReading>()
    /**
     * The connections requests come on (`track`): over TLS each one's TLS socket, which `sockets` (the TCP ones, counted
     * against the cap) does not hold, and under which its bodies are kept.
     */
    const requestSockets = options.tls === undefined ? sockets : new Set<Socket>()
    // At the cap, after idle connections: a body that stopped coming (probe 43 I1).
    const stalledBodies = makeStalledBodies(
      requestSockets,
      readingBody,
      limits.idleEvictionMs,
      () => unsafeMonotonicMillis(clock),
      (socket) => socket.bytesRead,
      (socket) => socket.destroyed
    )
    // Connections lingering after their last answer are also, at the cap, the first to give way to a newcomer.
    const { close: lingeringClose, isLingering, takeOldest: takeOldestLingering } = makeLingeringClose(runFork)
    /** Connections a malformed request ended, closed once the requests before it are answered (`clientError`). */
    const closing = new WeakSet<Socket>()
    // One `finish` listener at a time: while a request is unanswered its answer is the one attached, or is queued
    // behind it, and Node attaches the next queued answer as one finishes, before this listener runs.
    // An answer attached that nothing will write (its request came too late to run) ends the wait: the ones before it
    // are written.
    const closeIfAnswered = (socket: Socket) => {
      const current = attachedAnswer(socket)
      if (current !== undefined && !notRun.has(current)) current.once("finish", () => closeIfAnswered(socket))
      else if (idle.pending(socket) === 0) lingeringClose(socket)
    }
    // Closed after, as Node's own refusal is: a client that does not name the host may not frame its requests either.
    const badHost = { missing: closingAnswer(new BadHost({ problem: "missing" })), repeated: closingAnswer(new BadHost({ problem: "repeated" })) }
    const badBody = closingAnswer(new MalformedRequest({ reason: "the body is not valid HTTP (its length or a chunk)" }))
    const bodyTimedOut = closingAnswer(new RequestTimedOut())
    const closeWhenAnswered = (socket: Socket) => {
      if (closing.has(socket)) return
      closing.add(socket)
      closeIfAnswered(socket)
    }

    /** Set at a stop's start: every answer from then on closes its connection. */
    let closingAll = false
    /**
     * Connections that take no more requests: their last answer is written (one saying `Connection: close`, ours or the
     * client's), or, while stopping, their last request is taken. A request pipelined behind is not run (RFC 9112 §9.6):
     * its answer could never be sent, and a client must not be told nothing of a request that took effect. Counted, so
     * that a request on any other connection costs a comparison.
     */
    const takingNoMore = new WeakSet<Socket>()
    let takingNoMoreCount = 0
    /** Answers to requests whose declared body is not read: each closes its connection. */
    const unreadBody = new WeakSet<ServerResponse>()
    /** Answers to requests that came too late to run: Node attaches each in its turn, and nothing ever writes it. */
    const notRun = new WeakSet<ServerResponse>()
    const takeNoMore = (socket: Socket) => {
      // A closed socket takes nothing more anyway, and its `close` would never come to count it out (review 48 I3).
      if (socket.destroyed || takingNoMore.has(socket)) return
      takingNoMore.add(socket)
      takingNoMoreCount += 1
      socket.once("close", () => {
        takingNoMore.delete(socket)
        takingNoMoreCount -= 1
      })
    }
    /** Whether `req` comes too late to be run; while stopping, taking a connection's first request makes it its last. */
    const tooLate = (req: IncomingMessage, res: ServerResponse): boolean => {
      // Closed while Node still parses what it read (its answers were refused): nothing of it runs (probe 47 L1).
      if (req.socket.destroyed) return true
      // Its connection holds too many answers not taken: the request does nothing (probe 48 F3). Past its share, the
      // connection takes no more, and closes once the answers before are written (a client that reads gets them,
      // a create's among them); past twice that (requests not run keep coming), or first to go for the total, at once.
      const refusal = heldAnswers.admit(req.socket)
      let startsClosing = false
      if (refusal !== null) {
        const gently = refusal === "share" && heldAnswers.heldBy(req.socket) < 2 * limits.maxHeldAnswerBytesPerConnection
        if (!gently) {
          closeForAnswers(req.socket, refusal)
          return true
        }
        if (!takingNoMore.has(req.socket)) {
          warnedOverShare.add(req.socket)
          takeNoMore(req.socket)
          startsClosing = true
        }
      }
      // One before it still unanswered will be answered with the close (while stopping).
      if ((takingNoMoreCount > 0 && takingNoMore.has(req.socket)) || (closingAll && idle.pending(req.socket) > 0)) {
        notRun.add(res)
        // Node keeps it, and its response, until the connection closes: counted until then (probe 48 F1).
        heldAnswers.take(req.socket, QUEUED_ANSWER_BYTES)
        // Once it is marked not run: nothing will write its answer, so the wait for the ones before ends with it.
        if (startsClosing) {
          closeWhenAnswered(req.socket)
          closedOverShare()
        }
        return true
      }
      if (closingAll) takeNoMore(req.socket)
      return false
    }
    // Each request is named by its answer: while stopping, the latest's is the one that closes the connection.
    const begin = (req: IncomingMessage, res: ServerResponse) => idle.requested(req.socket, res)
    const send = (res: ServerResponse, response: WireResponse, path = "other") => {
      const socket = res.req.socket
      const body = response.body
      // Queued behind an answer not yet taken (Node gives it no socket until then), or large: counted until taken.
      const taken = res.socket === null || (body !== null && body.length >= LARGE_ANSWER_CHARS) ? holdAnswer(socket, res, body?.length ?? 0) : undefined
      // While stopping, only the latest request's answer says `Connection: close`: Node ends the connection after that
      // answer, and an answer queued behind it, to a pipelined request that ran, would be lost.
      const closesNow = closingAll && idle.latest(socket) === res
      // Its connection already takes no more when the answer closes it for a body left unread (`routeRequest`).
      const answer = closesNow || (takingNoMoreCount > 0 && unreadBody.has(res)) ? closingConnection(response) : response
      writeResponse(res, answer, taken)
      // Node closes after an answer whose client asked so (`shouldKeepAlive`) or that says so itself (its `_last`).
      if (!res.shouldKeepAlive || answer.headers?.["connection"] === "close") takeNoMore(socket)
      idle.answered(socket)
      // An earlier one: the connection closes once the answers behind it are written (the latest's says so too), and
      // takes no more: the latest may have been answered before the stop began, without the close (review 40 L1).
      if (closingAll && !closesNow) {
        takeNoMore(socket)
        closeWhenAnswered(socket)
      }
      if (onAnswer !== undefined) onAnswer(options.routes.has(path) ? path : "other", response.status)
    }

    /** A defect is a bug of ours: it is logged in full, and the client gets a plain 500. */
    const failed = (res: ServerResponse, method: string, path: string, cause: Cause.Cause<unknown>) => {
      runFork(Effect.logError(`${options.name}: ${method} ${path} failed`, cause))
      send(res, internalError, path)
    }

    /** A costly route's refusals, made once per route: a client pipelining them may ask thousands. */
    const notTaken = new Map<string, WireResponse>()
    const notTakenAnswer = (path: string): WireResponse => {
      const made = notTaken.get(path)
      if (made !== undefined) return made
      const refusal = errorResponse(new AnswerNotTaken({ path }))
      notTaken.set(path, refusal)
      return refusal
    }

    const answer = (req: IncomingMessage, res: ServerResponse, route: WireRoute, path: string, query: string, body: unknown) => {
      // Queued (an answer before it is not yet written whole: Node gives it no socket until then), or its connection
      // holds an answer not taken.
      if (route.costly === true && (res.socket === null || heldAnswers.heldBy(req.socket) > 0)) return send(res, notTakenAnswer(path), path)
      const request: WireRequest = { method: req.method ?? "GET", path, query, headers: req.headers, body }
      let effect: ReturnType<WireRoute["handle"]>
      // Outside a fiber nothing would catch a throw: the process would end with every session in it (review 41 L1).
      try {
        effect = route.handle(request)
      } catch (defect) {
        return failed(res, request.method, path, Cause.die(defect))
      }
      // A handler that had all it needed at once answers with an Either (itself an Effect): no fiber for it.
      if (isEither(effect)) return send(res, Either.isRight(effect) ? effect.right : errorResponse(effect.left), path)
      const cancel = runCallback(Effect.catchAll(effect, (error) => Effect.succeed(errorResponse(error))), {
        onExit: (exit) => {
          if (Exit.isSuccess(exit)) return send(res, exit.value, path)
          if (Exit.isInterrupted(exit)) return
          failed(res, request.method, path, exit.cause)
        }
      })
      if (route.interruptOnClose === true) {
        // A pipelined request's answer waits behind the ones before it and gets no `close` of its own: the socket's
        // is watched too, so no long poll outlives its client. One listener per socket, whatever the number of polls
        // pipelined on it (one each would pass Node's listener limit and print its warning outside our log format).
        const socket = req.socket
        let waiting = pollsBySocket.get(socket)
        if (waiting === undefined) {
          const polls = new Set<() => void>()
          waiting = polls
          pollsBySocket.set(socket, polls)
          socket.once("close", () => {
            pollsBySocket.delete(socket)
            for (const poll of polls) poll()
          })
        }
        waiting.add(cancel)
        const polls = waiting
        res.once("close", () => {
          polls.delete(cancel)
          cancel()
        })
      }
    }

    /** Read a JSON body within the size limit and the shared budget (`bodyBudget.ts`), then answer. */
    const readBody = (req: IncomingMessage, res: ServerResponse, route: WireRoute, path: string, query: string) => {
      const declared = Number(req.headers["content-length"] ?? "0")
      if (declared > limits.maxBodyBytes) {
        return send(res, tooLarge, path)
      }
      const coding = unsupportedCoding(req.headers)
      if (coding !== null) return send(res, coding, path)
      const body = new ChunkAccumulator()
      let pieces = 0
      let held = 0
      let done = false
      const socket = req.socket
      const release = () => {
        if (readingBody.get(socket) === reading) readingBody.delete(socket)
        budget.held -= held
        held = 0
        body.clear()
      }
      const refuse = (response: WireResponse) => {
        done = true
        release()
        if (response === bodiesFull) warnBodiesFull()
        send(res, response, path)
      }
      const reading: BodyReading = { res, path, refuse, seenBytes: socket.bytesRead, seenAt: unsafeMonotonicMillis(clock) }
      readingBody.set(socket, reading)
      req.on("data", (chunk: Buffer) => {
        if (done) return
        if (body.length + chunk.length > limits.maxBodyBytes) return refuse(tooLarge)
        if (++pieces > limits.maxBodyPieces) return refuse(tooManyPieces)
        // What passes the free allowance is charged to the budget, if it has room. The buffer grows by doubling what
        // came, not to the declared length: a client that declares 1 MiB and sends two bytes holds 16 KiB.
        const capacity = body.capacityAfter(chunk.length, limits.maxBodyBytes)
        const more = Math.max(0, capacity - FREE_BODY_BYTES) - held
        if (more > 0) {
          if (budget.held + more > budget.max) return refuse(bodiesFull)
          budget.held += more
          held += more
        }
        body.push(chunk, limits.maxBodyBytes)
      })
      // Set once a body has been put in line for its turn (`OnePerTurn`): `onEnd` runs again then, to parse it.
      let waitedTurn = false
      const onEnd = () => {
        if (!waitedTurn) {
          if (done) return
          done = true
          // A large body waits for its turn, holding its share of the budget until then (so waiting bodies stay
          // bounded); the protocol's own bodies, a few hundred bytes, are answered at once, unless one waits before
          // them on their connection (a request with no body may still go first), or this
          // turn has parsed its allowance already.
          const before = waitingOn.get(socket) ?? 0
          if (body.length > LARGE_BODY_BYTES || (before > 0 && body.length > 0) || !turns.takeNow(body.length)) {
            waitedTurn = true
            waitingOn.set(socket, before + 1)
            // Received whole: no longer a body that may stall (a connection the cap could close for it).
            if (readingBody.get(socket) === reading) readingBody.delete(socket)
            return turns.add(onEnd)
          }
        } else {
          waitingOn.set(socket, (waitingOn.get(socket) ?? 1) - 1)
          // Its client gone while it waited (or its body dropped with it): nobody to answer, and no parse to spend.
          if (socket.destroyed || body.length === 0) return release()
        }
        const raw = body.bytes()
        release()
        if (raw.length === 0) return answer(req, res, route, path, query, undefined)
        // JSON is UTF-8 (RFC 8259 §8.1). Decoded leniently, two different invalid bytes would both read as U+FFFD, and
        // a `session_auth` holding either would match the other.
        if (route.notJsonAsText === true && !isUtf8(raw)) return answer(req, res, route, path, query, raw.toString("utf8"))
        if (!isUtf8(raw)) return send(res, errorResponse(route.notJson ?? refusals.invalidJson), path)
        const parsed = parseBoundedJson(raw.toString("utf8"), limits.maxJsonDepth)
        switch (parsed._tag) {
          case "Parsed":
            return answer(req, res, route, path, query, parsed.value)
          case "Invalid":
            // Only white space (`echo | curl --data-binary @-` sends a newline) is no body, as an empty one is.
            if (isJsonWhiteSpace(raw)) return answer(req, res, route, path, query, undefined)
            if (route.notJsonAsText === true) return answer(req, res, route, path, query, raw.toString("utf8"))
            return send(res, errorResponse(route.notJson ?? refusals.invalidJson), path)
          case "TooDeep":
            if (route.notJsonAsText === true) return answer(req, res, route, path, query, raw.toString("utf8"))
            return send(res, errorResponse(new BodyTooDeep({ limit: parsed.limit })), path)
        }
      }
      // `on`, not `once`: each fires at most once for a request, and `once` wraps every listener in a closure.
      req.on("end", onEnd)
      // A client that goes away mid-body (or is cut off by a timeout) gets no answer; nothing was registered for it.
      req.on("error", () => {
        done = true
        release()
      })
    }

    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      if (!tooLate(req, res)) routeRequest(req, res)
    }
    const routeRequest = (req: IncomingMessage, res: ServerResponse) => {
      begin(req, res)
      const url = originForm(req.url ?? "/")
      const mark = url.indexOf("?")
      const path = mark < 0 ? url : url.slice(0, mark)
      const query = mark < 0 ? "" : url.slice(mark + 1)
      const host = hostProblem(req)
      if (host !== null) return send(res, badHost[host], path)
      const refused = refusedByGuard(req)
      const route = refused === null ? routeFor(req, path) : undefined
      // Every answer but the route's after `readBody` leaves the body unread: with one declared, the answer says
      // `Connection: close` (`send`; Node then closes after it), and a request pipelined behind it (parsed while a long
      // poll waits) is not run, since its answer could never be sent (probe 42 L1: a /release took effect unanswered).
      if (route?.body !== "json" && declaresBody(req.headers)) {
        unreadBody.add(res)
        takeNoMore(req.socket)
      }
      if (refused !== null) return send(res, errorResponse(refused), path)
      if (route === undefined) {
        const known = notAllowed.get(path)
        return send(res, known ?? notFound, known === undefined ? "other" : path)
      }
      if (route.body === "none") return answer(req, res, route, path, query, undefined)
      readBody(req, res, route, path, query)
    }
    const notFound = json(404, { error: "not found" })
    const notAllowed = new Map(Array.from(options.routes, ([path, route]) => [path, json(405, { error: "method not allowed" }, { allow: route.method })]))
    /** The route a request is for; none for an unknown path (404) or a method the path does not take (405). */
    const routeFor = (req: IncomingMessage, path: string): WireRoute | undefined => {
      const route = options.routes.get(path)
      // HEAD is GET without the body (RFC 9110 §9.3.2); Node writes no body for it.
      return route !== undefined && (req.method === route.method || (req.method === "HEAD" && route.method === "GET")) ? route : undefined
    }

    const serverOptions = {
      // Node's own check answers 400 with no body; `hostProblem` answers it in JSON, naming the header.
      requireHostHeader: false,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS
    }
    const server: Server =
      options.tls === undefined
        ? createHttpServer(serverOptions, onRequest)
        : // Not half-open until its handshake is done (`secureConnection`): a client's FIN before it closes the connection
          // at once, where a half-open one would hold a place under the cap until the handshake timeout (probe 42 M1).
          createHttpsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key, handshakeTimeout: limits.headersTimeoutMs }, onRequest)
    // Over TLS a client that half-closes after its requests gets their answers: Node's HTTP server otherwise ends the
    // connection at the FIN, dropping the answers still queued (the TLS layer reads the FIN while requests wait behind
    // a paused parser; over plain TCP the FIN is read only once they are answered). Node's own switch for this
    // (`httpAllowHalfOpen`, not in its types): the last answer then closes the connection. Not for plain HTTP, where a
    // FIN is also how a long poll learns that its client has gone.
    if (options.tls !== undefined) (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true
    // Every header is kept: past Node's default 2,000 the rest were framed but not shown, so an `Origin`, a second
    // `Host` or a `Content-Encoding` after 2,000 others passed the checks that read them (probe 51 L6). The header
    // size limit still bounds them.
    server.maxHeadersCount = 0
    // One more than the cap, so that the connection past it reaches the `connection` listener below, which closes an
    // idle one for it or refuses it.
    server.maxConnections = limits.maxConnections + 1
    /** A request answered before its body is read: begun and answered like every other, so that its connection's count of unanswered ones stays true. */
    const answerUnread = (req: IncomingMessage, res: ServerResponse, response: WireResponse) => {
      begin(req, res)
      send(res, response, pathOf(originForm(req.url ?? "/")))
    }
    /**
     * `Expect: 100-continue`: a request that would be refused unread (a body declared over the limit, a request the guard
     * refuses, a coding not decoded) is refused before the client is told to send its body (Node would say `100 Continue`
     * first), and its connection closed (the body may still come); any other is told to go on and served as usual.
     */
    const refusedBeforeBody = (req: IncomingMessage): WireResponse | null => {
      const host = hostProblem(req)
      if (host !== null) return badHost[host]
      const headers = req.headers
      // The guard first, as without `Expect`: a web page's request is told it is one, whatever its size (probe 44 F4).
      const notAllowed = refusedByGuard(req)
      if (notAllowed !== null) return closingAnswer(notAllowed)
      if (Number(headers["content-length"] ?? "0") > limits.maxBodyBytes) return tooLarge
      return unsupportedCoding(headers)
    }
    server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
      if (tooLate(req, res)) return
      const refused = refusedBeforeBody(req)
      if (refused !== null) return answerUnread(req, res, refused)
      // Only a body that will be read is asked for: an unknown path, a wrong method or a route that reads none is
      // answered without it (and its connection closed, `routeRequest`).
      if (routeFor(req, pathOf(originForm(req.url ?? "/")))?.body === "json") res.writeContinue()
      routeRequest(req, res)
    })
    // An `Expect` other than 100-continue: Node's own 417 has no body; this one names the header, and closes (the body
    // the client holds back may still come). A request the guard refuses gets the guard's answer, as everywhere.
    const expectationFailed = closingAnswer(new UnsupportedExpectation())
    server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
      if (tooLate(req, res)) return
      const host = hostProblem(req)
      if (host !== null) return answerUnread(req, res, badHost[host])
      const notAllowed = refusedByGuard(req)
      answerUnread(req, res, notAllowed === null ? expectationFailed : closingAnswer(notAllowed))
    })
    // A connection silent this long while a request is in progress: a body that stopped coming gets its 408 (in its turn,
    // then the connection closes), whatever the request timeout's check would have said a moment later, and the limit
    // runs again (Node arms it once per silence), so that a client that does not read that answer is destroyed at the
    // next; anything else (a client that does not read its answers) is destroyed. With this listener Node destroys
    // nothing itself. A lingering connection has its own bound.
    server.timeout = limits.stallTimeoutMs
    server.on("timeout", (socket: Socket) => {
      if (isLingering(socket)) return
      const current = readingBody.get(socket)
      // Answers its client has not taken: it is the one not reading, whatever body it left half sent (probe 49 L1: the
      // 408 queued behind them waited one more stall limit).
      if (current === undefined || current.res.req.complete || heldAnswers.heldBy(socket) > 0) return socket.destroy()
      current.refuse(bodyTimedOut)
      closeWhenAnswered(socket)
      // Not a timer of ours: Node's own stall limit (`server.timeout`, armed per socket, reset by traffic), armed again.
      socket.setTimeout(limits.stallTimeoutMs)
    })
    /** A warning logged at the first of a burst, then, a minute later, once more with how many followed. */
    const burstWarning = (first: Effect.Effect<void>, followed: (count: number) => Effect.Effect<void>) => {
      let count = 0
      return () => {
        if (count++ > 0) return
        runFork(
          first.pipe(
            Effect.zipRight(Effect.sleep("1 minute")),
            Effect.zipRight(
              Effect.suspend(() => {
                const more = count - 1
                count = 0
                return more > 0 ? followed(more) : Effect.void
              })
            )
          )
        )
      }
    }
    const refusedAtCap = burstWarning(
      Effect.logWarning(`${options.name}: connection cap reached`, { max_connections: limits.maxConnections }),
      (refused) => Effect.logWarning(`${options.name}: connections refused at the cap`, { refused, max_connections: limits.maxConnections })
    )
    const closedForNewcomer = burstWarning(
      Effect.logWarning(`${options.name}: connection cap reached; the longest idle connection closed to let a new one in`, {
        max_connections: limits.maxConnections,
        idle_at_least_ms: limits.idleEvictionMs
      }),
      (closed) => Effect.logWarning(`${options.name}: idle connections closed at the cap`, { closed, max_connections: limits.maxConnections })
    )
    const closedOverShare = burstWarning(
      Effect.logWarning(`${options.name}: a connection holding more answers than its share, not taken by its client, closed`, {
        held_answer_bytes: limits.maxHeldAnswerBytesPerConnection
      }),
      (closed) => Effect.logWarning(`${options.name}: connections holding more answers than their share closed`, { closed })
    )
    const closedForTotal = burstWarning(
      Effect.logWarning(`${options.name}: answers not taken by their clients reached the bound of all connections; the connection least likely to be read closed`, {
        all_connections_bytes: limits.maxHeldAnswerBytes
      }),
      (closed) => Effect.logWarning(`${options.name}: connections closed at the bound of answers not taken`, { closed })
    )
    const heldAnswers = makeHeldAnswers<Socket>({
      perConnection: limits.maxHeldAnswerBytesPerConnection,
      perClient: limits.maxHeldAnswerBytesPerClient,
      total: limits.maxHeldAnswerBytes,
      clientOf: (socket) => clientOf(socket.remoteAddress),
      stalled: (socket) => socket.writableLength > 0,
      watch: (socket) => socket.once("close", () => heldAnswers.gone(socket)),
      evict: (socket) => {
        if (socket.destroyed) return
        socket.destroy()
        closedForTotal()
      }
    })
    /** Closes a connection whose next request is refused for the answers it holds (`heldAnswers.ts`), saying why. */
    /** Connections told to take no more for their share: their close at twice it is the same warning's. */
    const warnedOverShare = new WeakSet<Socket>()
    const closeForAnswers = (socket: Socket, refusal: Refusal) => {
      // Warned of already when it was told to take no more for its share (not when for an unread body or a stop).
      const warned = refusal === "share" && warnedOverShare.has(socket)
      heldAnswers.gone(socket)
      socket.destroy()
      if (refusal === "total") closedForTotal()
      else if (!warned) closedOverShare()
    }
    /**
     * Counts an answer until its client takes it (its response's `finish`: written whole to the socket), or its
     * connection closes (`heldAnswers.ts`). The stall limit (`server.timeout`) runs while one is not taken, as while
     * any answer is pending.
     */
    const holdAnswer = (socket: Socket, res: ServerResponse, chars: number): (() => void) | undefined => {
      // Nothing will be written (its client has gone before an async route answered, or it was answered already):
      // nothing to count (review 51 M1).
      if (socket.destroyed || res.destroyed || res.headersSent) return undefined
      // Node writes no body for HEAD.
      const head = res.req.method === "HEAD"
      const bytes = answerBytes(head ? 0 : chars)
      heldAnswers.take(socket, bytes)
      res.once("finish", () => heldAnswers.release(socket, bytes))
      if (head || chars < LARGE_ANSWER_CHARS) return undefined
      // A large one is written a piece at a time (`writeInPieces`): each piece taken is progress; it is held until its
      // `finish`, its text kept whole until then (probe 49 M1).
      return () => heldAnswers.progressed(socket)
    }

    const closedStalledForNewcomer = burstWarning(
      Effect.logWarning(`${options.name}: connection cap reached; a connection whose request body stopped coming closed to let a new one in`, {
        max_connections: limits.maxConnections,
        stalled_at_least_ms: limits.idleEvictionMs
      }),
      (closed) => Effect.logWarning(`${options.name}: connections with a stalled request body closed at the cap`, { closed, max_connections: limits.maxConnections })
    )
    const closeForNewcomer = (socket: Socket, warn: () => void) => {
      evicting++
      socket.once("close", () => evicting--)
      socket.destroy()
      warn()
    }
    server.on("connection", (socket: Socket) => {
      if (sockets.size - evicting >= limits.maxConnections) {
        const idleOne = takeOldestLingering() ?? idle.takeLongestIdle()
        if (idleOne !== undefined) closeForNewcomer(idleOne, closedForNewcomer)
        else {
          const stalled = stalledBodies.takeLongestStalled()
          if (stalled === undefined) {
            socket.destroy()
            return refusedAtCap()
          }
          closeForNewcomer(stalled, closedStalledForNewcomer)
        }
      }
      sockets.add(socket)
      socket.once("close", () => sockets.delete(socket))
      if (options.tls === undefined) return track(socket)
      // A TLS connection still in its handshake is idle too, from its accept: a client holding the cap's worth of them
      // (silent, or a byte of a ClientHello at a time) would otherwise keep newcomers out until the handshake timeout.
      idle.opened(socket)
      socket.once("close", () => idle.closed(socket))
    })
    const track = (socket: Socket) => {
      // Node closes a connection after an answer marked last (a `Connection: close`, ours or the client's) with
      // `destroySoon`: it lingers instead, so that the answer is not lost to a reset.
      socket.destroySoon = () => lingeringClose(socket)
      idle.opened(socket)
      socket.once("close", () => idle.closed(socket))
      if (requestSockets === sockets) return
      requestSockets.add(socket)
      socket.once("close", () => requestSockets.delete(socket))
    }
    if (options.tls !== undefined) {
      server.on("secureConnection", (socket: Socket) => {
        // Half-open from here, as a plain HTTP server's sockets are: a TLS socket otherwise ends its side at the client's
        // FIN, before the answers to the requests that came with it. Node emits this before it reads on past the
        // handshake (a `newSession` listener, which would defer it, must not be added).
        socket.allowHalfOpen = true
        // Its handshake done, the connection is tracked by its TLS socket, which carries the requests; Node keeps the
        // TCP socket it wraps as `_parent` (not in its types; pinned by WireServer.test.ts).
        const tcp = (socket as Socket & { readonly _parent?: unknown })._parent
        if (tcp instanceof Socket) idle.closed(tcp)
        // Node's parser reads a TLS socket from its handle, whose decrypted records keep coming after Node pauses the
        // parser for answers that back up: each is refused (HPE_PAUSED) and, as a bare Node server does, the connection
        // closes with the requests pipelined past the first ~16 KB unanswered. A `data` listener makes Node read it
        // as a stream instead, whose pause holds them back.
        socket.on("data", readByNode)
        track(socket)
      })
    }
    // Node's own refusal, past the cap plus one: a burst faster than closed connections go.
    server.on("drop", refusedAtCap)
    /** Whether answers are owed on `socket` before one of ours (besides the request whose body is being read), or one is being written. */
    const answersOwed = (socket: Socket, readingOne: boolean): boolean =>
      idle.pending(socket) > (readingOne ? 1 : 0) || attachedAnswer(socket)?.headersSent === true
    /** `refusal` written past Node's server, counted under `path`, and the connection closed gently. */
    const refuseRaw = (socket: Socket, refusal: WireResponse, path: string): void => {
      socket.write(closingRawAnswer(refusal))
      if (onAnswer !== undefined) onAnswer(path, refusal.status)
      lingeringClose(socket)
    }
    // A CONNECT never reaches the routes: with no listener Node drops its connection without a word. It is answered as
    // a malformed request is: after what came before it on the connection, then the connection closes.
    server.on("connect", (_req: IncomingMessage, socket: Socket) => {
      if (answersOwed(socket, false)) return closeWhenAnswered(socket)
      if (!socket.writable || socket.destroyed) return socket.destroy()
      refuseRaw(socket, tunnelRefused, "other")
    })
    server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
      // A lingering connection's parser has stopped: a timeout there (its request never finished) needs nothing.
      if (isLingering(socket)) return
      // A request before the bad (or late) one still unanswered, or an answer still being written, comes first: a 400 or
      // 408 written now would reach the client as that request's answer. Then the connection closes once they are
      // answered, with no answer for a malformed request (Node's own handler stays silent too once an answer has
      // begun) or unfinished headers; a bad or late body is answered 400 or 408 in its turn. A reset closes it at once.
      // A body whose request is complete (its `end` comes a tick later) is not the one that failed.
      const current = readingBody.get(socket)
      const reading = current !== undefined && !current.res.req.complete
      const inFlight = answersOwed(socket, reading)
      const timedOut = error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      if (inFlight && (timedOut || error.code?.startsWith("HPE_") === true)) {
        // Through the body's own answer, which Node sends in its turn.
        if (reading) current.refuse(timedOut ? bodyTimedOut : badBody)
        return closeWhenAnswered(socket)
      }
      // As Node's default does, a 400/408/431 when it can still answer (with a JSON body saying which); never an exception.
      if (!inFlight && socket.writable && !socket.destroyed) {
        const refusal =
          error.code === "HPE_HEADER_OVERFLOW"
            ? errorResponse(new HeadersTooLarge())
            : timedOut
              ? errorResponse(new RequestTimedOut())
              : errorResponse(new MalformedRequest({ reason: parserReason(error) }))
        // Counted as every answer is: under the route whose body failed, or `other` when no request was read.
        return refuseRaw(socket, refusal, reading ? current.path : "other")
      }
      socket.destroy()
    })

    // `*` as `ss` writes a socket on every address.
    const shownHost = options.host ?? "*"
    const bindOnce = Effect.async<number, ListenFailed>((resume) => {
      const onError = (error: NodeJS.ErrnoException) => {
        server.off("listening", onListening)
        resume(
          Effect.fail(
            new ListenFailed({
              name: options.name,
              host: shownHost,
              port: options.port,
              code: error.code ?? "UNKNOWN",
              message: `${options.name}: cannot listen on ${shownHost}:${options.port}${options.portSetting === undefined ? "" : ` (${options.portSetting})`}: ${error.code ?? error.message}`
            })
          )
        )
      }
      const onListening = () => {
        server.off("error", onError)
        const address = server.address()
        resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : options.port))
      }
      server.once("error", onError)
      server.once("listening", onListening)
      if (options.host === undefined) server.listen(options.port)
      else server.listen(options.port, options.host)
    })

    const attempts = options.bindAttempts ?? 1
    const retryDelay = Duration.decode(options.bindRetryDelay ?? "1 second")
    const notice = retryNotices(
      attempts - 1,
      `every ${Duration.toSeconds(retryDelay)} s for up to ${Duration.toSeconds(retryDelay) * (attempts - 1)} s${options.bindRetrySetting === undefined ? "" : ` (${options.bindRetrySetting})`}`
    )
    const port = yield* bindOnce.pipe(
      Effect.tapError((error) => (error.code === "EADDRINUSE" ? notice(error.message) : Effect.void)),
      Effect.retry({
        schedule: Schedule.spaced(retryDelay),
        times: Math.max(0, attempts - 1),
        while: (error) => error.code === "EADDRINUSE"
      })
    )

    const closed = yield* Deferred.make<void>()
    let closeStarted = false
    const close = (grace: Duration.DurationInput): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (closeStarted) return Deferred.await(closed)
        closeStarted = true
        const open = sockets.size
        server.close(() => Deferred.unsafeDone(closed, Exit.void))
        server.closeIdleConnections()
        // Busy connections get `grace` to finish their answer; then they are cut. The wait must be
        // interruptible for its timeout to end it when `close` runs as a finalizer.
        return Effect.interruptible(Deferred.await(closed)).pipe(
          Effect.timeoutOption(grace),
          Effect.flatMap((finished) =>
            Option.isSome(finished)
              ? Effect.void
              : Effect.sync(() => {
                  for (const socket of sockets) socket.destroy()
                }).pipe(Effect.zipRight(Deferred.await(closed)))
          ),
          Effect.zipRight(open > 0 ? Effect.logDebug(`${options.name} closed`, { connections_at_close: open }) : Effect.void)
        )
      })

    yield* Effect.addFinalizer(() => close("2 seconds"))
    const bound = server.address()
    const boundHost = typeof bound === "object" && bound !== null ? bound.address : shownHost
    yield* Effect.logInfo(`${options.name} listening on ${options.tls === undefined ? "http" : "https"}://${boundHost.includes(":") ? `[${boundHost}]` : boundHost}:${port}`)
    return {
      name: options.name,
      port,
      connections: Effect.sync(() => sockets.size),
      heldAnswerBytes: Effect.sync(() => heldAnswers.held()),
      closeAfterAnswers: Effect.sync(() => {
        closingAll = true
      }),
      close
    } satisfies WireListener
  })
