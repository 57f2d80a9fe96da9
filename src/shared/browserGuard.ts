/**
 * The guard of a server on this machine that asks for no credentials (the worker's control port, the local serverless)
 * against web pages. Only processes on the machine reach it, but a browser on the machine is one such process, running
 * any site's code: a page can send a `POST` to 127.0.0.1 without a preflight (a `text/plain` body), and through DNS
 * rebinding read answers under a name of its own. Browsers say who sent a request (`Origin`, `Sec-Fetch-Site`) and
 * name the host it was for (`Host`); the programs these servers serve (curl, the SDK, the workers, Node and Python
 * clients) send neither of the first two, and address an IP address or localhost.
 */
import { isIP } from "node:net"
import { hostname } from "node:os"
import { hostsText } from "./hostsText.js"

/** Whether `address` is a loopback one: 127/8, `::1`, or 127/8 mapped into IPv6 (as `socket.localAddress` gives them). */
export const isLoopbackAddress = (address: string | undefined): boolean =>
  address !== undefined && (address === "::1" || /^(?:::ffff:)?127\.\d+\.\d+\.\d+$/i.test(address))

/** The names `hosts` (an `/etc/hosts` text) gives a loopback address: Debian maps the machine's full name to 127.0.1.1. */
export const loopbackNamesIn = (hosts: string): ReadonlyArray<string> =>
  hosts.split("\n").flatMap((line) => {
    const [address, ...names] = line.replace(/#.*/, "").trim().split(/\s+/)
    return address !== undefined && isLoopbackAddress(address) ? names.map((name) => name.toLowerCase()) : []
  })

/**
 * Names of this machine a local client may put in `Host`, besides `localhost` and the names under it (RFC 6761 §6.3:
 * loopback names, which browsers never ask DNS about): its host name `host`, `localhost.localdomain`, and what `hosts`
 * (an `/etc/hosts` text) maps to a loopback address. A rebinding page's name is its own domain, none of these.
 */
export const machineNamesFrom = (host: string, hosts: string): ReadonlySet<string> =>
  new Set(["localhost.localdomain", host.toLowerCase(), ...loopbackNamesIn(hosts)])

const machineNames = machineNamesFrom(hostname(), hostsText("/etc/hosts"))

/** `[v6]`, or a name or IPv4 address, then an optional port in digits: nothing else is a `Host` (RFC 9110 §7.2). */
const HOST = /^(?:\[([^\]]*)\]|([^:[\]@/\s]+))(?::\d*)?$/

/** An IPv4 address in any form `inet_aton` reads (`127.1`, `0x7f000001`): no domain a page could own is spelled so. */
const IPV4_ANY_FORM = /^(?:0x[0-9a-f]*|\d+)(?:\.(?:0x[0-9a-f]*|\d+)){0,3}$/i

/**
 * `Host` names this machine: an address literal (a rebinding page has a name of its own), one of its names, or a name
 * under `.internal` (reserved for private use, never in public DNS: Docker's and Podman's `host.docker.internal`,
 * `host.containers.internal`, through which a container reaches the host's loopback).
 */
const isLocalHost = (host: string): boolean => {
  const [, v6, other] = HOST.exec(host) ?? []
  if (v6 !== undefined) return isIP(v6) === 6
  if (other === undefined) return false
  const name = other.toLowerCase().replace(/\.$/, "")
  return IPV4_ANY_FORM.test(name) || name === "localhost" || name.endsWith(".localhost") || name.endsWith(".internal") || machineNames.has(name)
}

export interface BrowserRefusal {
  readonly field: "origin" | "sec-fetch-site" | "host"
  readonly message: string
}

export interface BrowserGuard {
  /** What the server is called in its refusals ("the control port"). */
  readonly server: string
  /** `Sec-Fetch-Site` values let in besides `none` (an address typed in the address bar): a page of its own that reloads itself says `same-origin`. */
  readonly sameOrigin: boolean
  /** Whether `Host` must name this machine (a connection that came in on loopback; one from the network may use a name of the network). */
  readonly host: boolean
}

/** Why a request comes from a web page, naming the header that shows it; `null` when it does not. */
export const browserRefusal = (headers: { readonly [name: string]: string | ReadonlyArray<string> | undefined }, guard: BrowserGuard): BrowserRefusal | null => {
  if (headers.origin !== undefined) {
    return { field: "origin", message: `origin: ${guard.server} does not answer requests from web pages (this one has an Origin header)` }
  }
  const site = headers["sec-fetch-site"]
  if (site !== undefined && site !== "none" && !(guard.sameOrigin && site === "same-origin")) {
    return { field: "sec-fetch-site", message: `sec-fetch-site: ${guard.server} does not answer requests from web pages` }
  }
  const host = headers.host
  if (guard.host && host !== undefined && (typeof host !== "string" || !isLocalHost(host))) {
    return {
      field: "host",
      message: `host: ${guard.server} answers requests addressed to an IP address, localhost or this machine's name only (a proxy or tunnel can send Host: localhost)`
    }
  }
  return null
}
