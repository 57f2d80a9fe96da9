/**
 * What is wrong with a request's `Host`, if anything: missing from HTTP/1.1 (HTTP/1.0 need not send one), or sent on
 * more than one line (Node keeps the first; a proxy in front, or a check of this server's, may have read another).
 * RFC 9112 §3.2: either is a `400`. Shared by the worker's servers and the local serverless (probe 44 F2).
 */
import type { IncomingHttpHeaders, IncomingMessage } from "node:http"

export type HostProblem = "missing" | "repeated"

export const hostProblem = (req: IncomingMessage): HostProblem | null => {
  if (req.headers.host === undefined) return req.httpVersionMajor === 1 && req.httpVersionMinor === 1 ? "missing" : null
  const raw = req.rawHeaders
  let lines = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 4 && name.toLowerCase() === "host" && ++lines > 1) return "repeated"
  }
  return null
}

/** The `400`'s words, naming the header. */
export const hostProblemMessage: Readonly<Record<HostProblem, string>> = {
  missing: "host: an HTTP/1.1 request must have a Host header",
  repeated: "host: a request must have one Host header, not several"
}

/**
 * The headers as a guard of the host should read them: a request target in absolute form (`GET http://host/path`)
 * names the host it is for, and a server uses that in place of `Host` (RFC 9112 §3.2.2). Browsers send that form only
 * to a proxy, but a check of `Host` alone would let it name another (probe 44 F3). Origin form, all but every request,
 * gives the headers as they are.
 */
export const headersForHostCheck = (target: string, headers: IncomingHttpHeaders): IncomingHttpHeaders => {
  if (target.charCodeAt(0) === 47 || !/^https?:\/\//i.test(target) || !URL.canParse(target)) return headers
  return { ...headers, host: new URL(target).host }
}
