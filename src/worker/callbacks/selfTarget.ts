/**
 * Whether a destination is this worker itself. A callback into the worker's own ports would let one session's
 * close act on the worker (its control `/release` closes every other session, `/recycle` retires it, its
 * `/session/create` opens a session nobody holds), so no request the worker sends may reach them.
 *
 * Checked twice: on the URL as given, at create (a literal address gets a 422 at once), and on the address a
 * connection is about to use (`callbackHttpClient.ts`), which also covers names that resolve here and redirects.
 */
import { networkInterfaces } from "node:os"
import { Effect } from "effect"
import { WorkerConfig } from "../config/WorkerConfig.js"
import { isLoopbackHost } from "../../shared/loopbackHost.js"

/** The code of a connection refused because its destination is the worker itself, and what `/debug` says of it. */
export const SELF_TARGET_REFUSED = "ERR_SELF_TARGET_REFUSED"
export const SELF_TARGET_REASON = "refused: the destination is one of this worker's own ports"

export interface SelfAddresses {
  /** IP addresses (and the public host) that reach this machine, lower case, without brackets. */
  readonly hosts: ReadonlySet<string>
  /**
   * This machine's interface addresses as they are now, asked when a destination on one of the ports is not in `hosts`:
   * an address gained after the start (a network attached, a late IPv6 address) is this machine's too (probe 52 L2: a
   * callback reached the worker's own `/session/create` through one). None: `hosts` alone.
   */
  readonly current?: () => Iterable<string>
  /** The worker's own ports (public, webhook, control) and the public port's external mapping. */
  readonly ports: ReadonlySet<number>
}

const stripBrackets = (host: string): string => (host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host)

const defaultPort = (protocol: string): number => (protocol === "https:" ? 443 : 80)

/** This machine's addresses: loopback, every interface address, and the public IP the platform gave it. */
export const selfAddresses = (input: { readonly publicIp: string; readonly ports: ReadonlyArray<number> }): SelfAddresses => {
  const hosts = new Set<string>([stripBrackets(input.publicIp.toLowerCase()), ...interfaceAddresses()])
  return { hosts, ports: new Set(input.ports), current: interfaceAddresses }
}

/** Every address of this machine's interfaces now, lower case. */
export const interfaceAddresses = (): Array<string> =>
  Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((address) => address.address.toLowerCase()))

/** The worker's own addresses and ports, from its settings: the URL it reports and the ports it listens on. */
export const selfAddressesOf = (config: {
  readonly workerUrl: string
  readonly workerPort: number
  readonly workerHttpPort: number
  readonly controlPort: number
}): SelfAddresses => {
  const reported = new URL(config.workerUrl)
  return selfAddresses({
    publicIp: reported.hostname,
    ports: [config.workerPort, config.workerHttpPort, config.controlPort, reported.port === "" ? defaultPort(reported.protocol) : Number(reported.port)]
  })
}

/**
 * The worker's own addresses, read at start, with the interfaces asked again for a destination on its ports that is
 * not among them: the create-time check and the outbox's agents share them.
 */
export class WorkerSelf extends Effect.Service<WorkerSelf>()("worker/WorkerSelf", {
  effect: Effect.map(WorkerConfig, selfAddressesOf)
}) {}

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

/** Whether `host` (a name as written, or an address) is this machine. A name other than `localhost` is not resolved here. */
export const isSelfHost = (host: string, self: SelfAddresses): boolean => {
  const plain = stripBrackets(host.toLowerCase())
  const mapped = unmapIpv4(plain)
  if (isLoopbackHost(mapped) || self.hosts.has(mapped) || self.hosts.has(plain)) return true
  if (self.current === undefined) return false
  for (const address of self.current()) if (address === mapped || address === plain) return true
  return false
}

/** Whether a URL, as written, points at one of the worker's own ports on this machine. */
export const targetsSelf = (url: string, self: SelfAddresses): boolean => URL.canParse(url) && parsedTargetsSelf(new URL(url), self)

/** `targetsSelf` for a URL parsed already. */
export const parsedTargetsSelf = (parsed: URL, self: SelfAddresses): boolean => {
  const port = parsed.port === "" ? defaultPort(parsed.protocol) : Number(parsed.port)
  return self.ports.has(port) && isSelfHost(parsed.hostname, self)
}
