/**
 * Whether a callback URL points at this worker itself. A callback into the worker's own ports would let
 * one session's close act on the worker (its control `/release` closes every other session), so such a
 * route is refused at create.
 */
import { networkInterfaces } from "node:os"

export interface SelfAddresses {
  /** Host names and IP addresses that reach this machine. */
  readonly hosts: ReadonlySet<string>
  /** The worker's own ports (public, webhook, control) and the public port's external mapping. */
  readonly ports: ReadonlySet<number>
}

const stripBrackets = (host: string): string => (host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host)

const isLoopback = (host: string): boolean =>
  host === "localhost" || host.endsWith(".localhost") || /^127\.\d+\.\d+\.\d+$/.test(host) || host === "::1" || host === "0.0.0.0" || host === "::"

/** This machine's addresses: loopback, every interface address, and the public IP the platform gave it. */
export const selfAddresses = (input: { readonly publicIp: string; readonly ports: ReadonlyArray<number> }): SelfAddresses => {
  const hosts = new Set<string>([input.publicIp.toLowerCase()])
  for (const list of Object.values(networkInterfaces())) for (const address of list ?? []) hosts.add(address.address.toLowerCase())
  return { hosts, ports: new Set(input.ports) }
}

/** `::ffff:7f00:1` (how URLs write an IPv4-mapped address) as `127.0.0.1`; other hosts unchanged. */
const unmapIpv4 = (host: string): string => {
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host)
  if (hex !== null) {
    const high = parseInt(hex[1] ?? "0", 16)
    const low = parseInt(hex[2] ?? "0", 16)
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
  }
  return host.startsWith("::ffff:") ? host.slice("::ffff:".length) : host
}

const defaultPort = (protocol: string): number => (protocol === "https:" ? 443 : 80)

export const targetsSelf = (url: string, self: SelfAddresses): boolean => {
  if (!URL.canParse(url)) return false
  const parsed = new URL(url)
  const host = stripBrackets(parsed.hostname.toLowerCase())
  const port = parsed.port === "" ? defaultPort(parsed.protocol) : Number(parsed.port)
  const mapped = unmapIpv4(host)
  return self.ports.has(port) && (isLoopback(mapped) || self.hosts.has(mapped) || self.hosts.has(host))
}
