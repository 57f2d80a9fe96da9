/**
 * The client's failures. Each is a fact the CLI can state in one sentence (`message`); none carries a
 * key or a signature. What a message quotes from outside (a URL, an answer, a session id) is made `printable`: it
 * reaches logs and terminals.
 */
import { Data } from "effect"
import { echoedId } from "../protocol/SessionId.js"
import { printable } from "../shared/printable.js"

/** Which call failed: the webserver's endpoint list, the autoscaler's `/route/`, or a worker route. */
export type Operation = "endpoint lookup" | "route" | "session/create" | "session/end" | "session/get" | "session/health" | "ping"

/** `VAST_API_KEY` is unset or empty, or (`unusable`) holds a character no HTTP header can carry. */
export class ApiKeyMissing extends Data.TaggedError("ApiKeyMissing")<{ readonly unusable: boolean }> {
  override get message() {
    return this.unusable
      ? "VAST_API_KEY holds a character a key does not (a space inside it, a control character, or one outside ASCII): set it to the key alone, as console.vast.ai shows it"
      : "VAST_API_KEY is not set: export your Vast.ai API key (console.vast.ai → Account → API keys), or `local` for the local serverless (its --api-key)"
  }
}

/** Names of the user's endpoints said when the one asked for is not among them: a typo is then seen at once. */
const KNOWN_SHOWN = 10

/** The user's endpoint list has no endpoint of this name; `known`: the names it has. */
export class EndpointNotFound extends Data.TaggedError("EndpointNotFound")<{ readonly name: string; readonly known: ReadonlyArray<string> }> {
  override get message() {
    const shown = this.known.slice(0, KNOWN_SHOWN).map((name) => `"${printable(name)}"`)
    const more = this.known.length > KNOWN_SHOWN ? `, … (${this.known.length} in all)` : ""
    return `endpoint "${printable(this.name)}" could not be found among your endpoints (${shown.length === 0 ? "you have none" : `yours: ${shown.join(", ")}${more}`})`
  }
}

/** No answer: connection refused or reset, DNS, TLS, or the per-call timeout. */
export class RequestFailed extends Data.TaggedError("RequestFailed")<{
  readonly operation: Operation
  readonly url: string
  readonly detail: string
  /** The peer's TLS certificate is not trusted: asking again, or another worker, cannot help. */
  readonly untrusted?: true
  /**
   * TLS failed because the server does not speak it (OpenSSL's "wrong version number": plain HTTP at an https URL):
   * a setting to fix, which asking again cannot.
   */
  readonly plainHttp?: true
  /** The connection was refused: nothing listens at that address (a worker there has stopped). */
  readonly refused?: true
  /**
   * The connection was reset or closed before any answer (Node's `ECONNRESET`, "socket hang up"): most often a kept
   * connection the server closed as the request went out on it, which a new connection does not meet.
   */
  readonly cut?: true
  /** An answer began with this status, then the connection failed before its body was whole. */
  readonly answered?: number
}> {
  override get message() {
    const what = this.answered === undefined ? "did not answer" : `answered ${this.answered}, then the answer was cut off`
    return `${this.operation}: ${printable(this.url)} ${what}: ${printable(this.detail)}`
  }
}

/** An answer the protocol does not allow here: an unexpected status, or a body that does not decode. */
export class UnexpectedResponse extends Data.TaggedError("UnexpectedResponse")<{
  readonly operation: Operation
  readonly url: string
  readonly status: number
  readonly detail: string
}> {
  override get message() {
    const refusedKey = this.operation === "endpoint lookup" && (this.status === 401 || this.status === 403)
    // The one refusal whose fix is the user's own setting: said with where that setting comes from.
    const hint = refusedKey ? " (check VAST_API_KEY; the local serverless takes its --api-key or SERVERLESS_API_KEY)" : ""
    return `${this.operation}: ${printable(this.url)} answered ${this.status}: ${printable(this.detail)}${hint}`
  }
}

/** No worker took the reservation before the overall routing timeout passed. */
export class RouteTimeout extends Data.TaggedError("RouteTimeout")<{
  readonly seconds: number
  readonly requestIdx: number
  /** What the last answer was: `waiting` (no worker yet) or `worker full` (429). */
  readonly last: string
}> {
  override get message() {
    // What usually keeps a reservation waiting, where the user can look.
    const hint =
      this.last === "waiting"
        ? "; the endpoint may be at max_workers with every worker busy, or its workers may not be getting ready (the endpoint's workers and their logs say which)"
        : this.last === "worker full"
          ? "; every worker routed to was full: the endpoint may be at max_workers"
          : ""
    return `no worker was reserved within ${this.seconds} s (request_idx ${this.requestIdx}; last answer: ${this.last})${hint}`
  }
}

/** `410`: the worker closed the session already (expiry, `/release`, another end). */
export class SessionClosed extends Data.TaggedError("SessionClosed")<{ readonly sessionId: string }> {
  override get message() {
    return `session ${printable(echoedId(this.sessionId))} was already closed by the worker`
  }
}

/** `400` on `/session/end` or `/session/get`: the worker does not know this session id. */
export class SessionUnknown extends Data.TaggedError("SessionUnknown")<{
  readonly operation: Operation
  readonly sessionId: string
}> {
  override get message() {
    return `${this.operation}: the worker does not know session ${printable(echoedId(this.sessionId))}`
  }
}

/** `--ca-file` cannot be read or holds no PEM certificate. */
export class CaFileInvalid extends Data.TaggedError("CaFileInvalid")<{ readonly path: string; readonly reason: string }> {
  override get message() {
    return `--ca-file ${this.path}: ${this.reason}`
  }
}

/** A CLI option value that parsed but makes no sense (`--count 0`, `--on-close-payload` not JSON). */
export class InvalidOption extends Data.TaggedError("InvalidOption")<{ readonly option: string; readonly reason: string }> {
  override get message() {
    return `--${this.option}: ${this.reason}`
  }
}

/** The run finished, but at least one create or end failed: the process exits non-zero. */
export class RunFailed extends Data.TaggedError("RunFailed")<{ readonly failures: number }> {
  override get message() {
    return `${this.failures} reservation step(s) failed`
  }
}

export type ReserveError = RouteTimeout | RequestFailed | UnexpectedResponse
export type WorkerError = RequestFailed | UnexpectedResponse
