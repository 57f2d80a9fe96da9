/**
 * The control server's guard against web pages. It listens on 127.0.0.1 and asks for no credentials because only
 * processes on the machine reach it, but a browser on the machine is one such process, running any site's code: a page
 * can send `POST /release` to 127.0.0.1 without a preflight (a `text/plain` body), and through DNS rebinding read
 * answers under a name of its own. Browsers say who sent a request (`Origin`, `Sec-Fetch-Site`) and name the host it
 * was for (`Host`). The consumers this port serves (curl, the examples, Python and Node clients) send neither of the
 * first two, and address 127.0.0.1 or localhost. Typing a control URL in the address bar (`Sec-Fetch-Site: none`) still
 * works. A worker's own session callbacks are refused too, by their `User-Agent`: a reservation names its callback's
 * URL, which on a host with several workers (the local serverless) could be a sibling's control port.
 */
import type { IncomingHttpHeaders } from "node:http"
import { isIP } from "node:net"
import { hostname } from "node:os"
import { CALLBACK_USER_AGENT_PREFIX } from "../../protocol/callback.js"
import { NotLocalRequest } from "../errors.js"

/**
 * Names of this machine a local client may put in `Host`, besides `localhost` and the names under it (RFC 6761 §6.3:
 * loopback names, which browsers never ask DNS about): the machine's own host name and `localhost.localdomain`, which
 * `/etc/hosts` maps to it. A rebinding page's name is its own domain, none of these.
 */
const machineNames = new Set(["localhost.localdomain", hostname().toLowerCase()])

/** `[v6]`, or a name or IPv4 address, then an optional port in digits: nothing else is a `Host` (RFC 9110 §7.2). */
const HOST = /^(?:\[([^\]]*)\]|([^:[\]@/\s]+))(?::\d*)?$/

/** `Host` names this machine: an address literal (a rebinding page has a name of its own) or one of its names. */
const isLocalHost = (host: string): boolean => {
  const [, v6, other] = HOST.exec(host) ?? []
  if (v6 !== undefined) return isIP(v6) === 6
  if (other === undefined) return false
  const name = other.toLowerCase().replace(/\.$/, "")
  return isIP(name) === 4 || name === "localhost" || name.endsWith(".localhost") || machineNames.has(name)
}

/** Why a request is not a local client's, naming the header; `null` when it is. */
export const notLocal = (headers: IncomingHttpHeaders): NotLocalRequest | null => {
  if (headers.origin !== undefined) {
    return new NotLocalRequest({ field: "origin", message: "origin: the control port does not answer requests from web pages (this one has an Origin header)" })
  }
  const site = headers["sec-fetch-site"]
  if (site !== undefined && site !== "none") {
    return new NotLocalRequest({ field: "sec-fetch-site", message: "sec-fetch-site: the control port does not answer requests from web pages" })
  }
  if (headers["user-agent"]?.startsWith(CALLBACK_USER_AGENT_PREFIX) === true) {
    return new NotLocalRequest({
      field: "user-agent",
      message: "user-agent: the control port does not answer a worker's session callbacks (an on_close_route points at a control port)"
    })
  }
  const host = headers.host
  if (host !== undefined && !isLocalHost(host)) {
    return new NotLocalRequest({
      field: "host",
      message: "host: the control port answers requests addressed to an IP address, localhost or this machine's name only (a proxy or tunnel can send Host: localhost)"
    })
  }
  return null
}
