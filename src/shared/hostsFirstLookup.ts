/**
 * A name lookup that answers from `/etc/hosts` (and `localhost` as loopback) on the main thread, and asks the resolver
 * (`dns.lookup`, on libuv's thread pool) only for other names. libuv runs at most half of its pool's threads on lookups,
 * and a resolver that stops answering holds each for its whole time-out: the health check of `http://localhost:…` had
 * waited behind the reports' and callbacks' hung lookups, three checks in a row, and the worker marked itself broken
 * for good while its consumer answered (probe 57 #1: 2 of 2 runs at 90 s of a DNS outage). The names a worker's health
 * URL and a local autoscaler use are these; a name only DNS knows still waits for a thread.
 */
import { ADDRCONFIG, lookup as dnsLookup } from "node:dns"
import { statSync } from "node:fs"
import { isIP, type LookupFunction } from "node:net"
import { networkInterfaces } from "node:os"
import { MAX_HOSTS_BYTES } from "./hostsText.js"
import { readBoundedFile } from "./readBoundedFile.js"

type LookupOptions = Parameters<LookupFunction>[1]
type Done = Parameters<LookupFunction>[2]

export interface HostAddress {
  readonly address: string
  readonly family: 4 | 6
}

/** The addresses `/etc/hosts` (its text) gives each name, names in lower case, in the file's order. */
export const parseHosts = (text: string): ReadonlyMap<string, ReadonlyArray<HostAddress>> => {
  const names = new Map<string, Array<HostAddress>>()
  for (const line of text.split("\n")) {
    const [address, ...aliases] = (line.split("#", 1)[0] ?? "").trim().split(/\s+/)
    const family = address === undefined ? 0 : isIP(address)
    if (family !== 4 && family !== 6) continue
    for (const alias of aliases) {
      const name = alias.toLowerCase()
      const known = names.get(name) ?? []
      if (!known.some((entry) => entry.address === address)) known.push({ address: address!, family })
      names.set(name, known)
    }
  }
  return names
}

/** RFC 6761 §6.3: `localhost` and the names under it are the loopback, whatever a resolver would say. */
const LOOPBACK: ReadonlyArray<HostAddress> = [
  { address: "127.0.0.1", family: 4 },
  { address: "::1", family: 6 }
]
const isLocalhost = (name: string): boolean => name === "localhost" || name.endsWith(".localhost")

/** Whether an interface other than the loopback has an IPv6 address: what glibc's `AI_ADDRCONFIG` asks. */
const hasIpv6BeyondLoopback = (): boolean =>
  Object.values(networkInterfaces()).some((addresses) => addresses?.some((entry) => entry.family === "IPv6" && !entry.internal) === true)

/**
 * The lookup, reading `hostsFile` again whenever its size or time changes. `fallback` answers every other name (and a
 * family the file does not give). Asked with `ADDRCONFIG` (as Node's connections ask), a host whose IPv6 reaches no
 * interface but the loopback gets the IPv4 addresses only, as glibc answers: `::1 consumer` listed first had been
 * answered first, and a consumer on 127.0.0.1 was refused where the family's autoselection is off (review 63 #5).
 * Otherwise the file's order (glibc sorts by RFC 6724 there, which puts `::1` before `127.0.0.1`; a connection then
 * tries the next address, with Node's family autoselection on, as it is by default). `read`: tests make it fail.
 */
export const hostsFirstLookup = (
  hostsFile = "/etc/hosts",
  fallback: LookupFunction = dnsLookup as LookupFunction,
  hasIpv6 = hasIpv6BeyondLoopback,
  read: typeof readBoundedFile = readBoundedFile
): LookupFunction => {
  let seen = ""
  let table: ReadonlyMap<string, ReadonlyArray<HostAddress>> = new Map()
  const current = () => {
    try {
      const stats = statSync(hostsFile)
      const stamp = `${stats.size}:${stats.mtimeMs}:${stats.ino}`
      if (stamp !== seen) {
        // Larger, or not a file (a FIFO, a device): not read here, the resolver's to read. A read that fails (EMFILE)
        // throws, and is tried again at the next lookup (review 65 #3: kept as an empty table, for good).
        const text = stats.isFile() && stats.size <= MAX_HOSTS_BYTES ? read(hostsFile, MAX_HOSTS_BYTES) : "not read"
        table = typeof text === "string" ? new Map() : parseHosts(text.toString("utf8"))
        seen = stamp
      }
    } catch {
      table = new Map()
      seen = ""
    }
    return table
  }
  const lookup = (hostname: string, options: LookupOptions, done: Done): void => {
    const name = hostname.toLowerCase().replace(/\.$/, "")
    const listed = current().get(name) ?? (isLocalhost(name) ? LOOPBACK : undefined)
    const family = options.family === 4 || options.family === "IPv4" ? 4 : options.family === 6 || options.family === "IPv6" ? 6 : 0
    const asked = listed?.filter((entry) => family === 0 || entry.family === family) ?? []
    const v4 = asked.filter((entry) => entry.family === 4)
    const found = v4.length > 0 && v4.length < asked.length && ((options.hints ?? 0) & ADDRCONFIG) !== 0 && !hasIpv6() ? v4 : asked
    if (found.length === 0) return fallback(hostname, options, done)
    // Answered in a later turn, as a lookup is: a caller may not expect its callback before the call returns.
    process.nextTick(() => {
      if (options.all === true) (done as (error: null, addresses: ReadonlyArray<HostAddress>) => void)(null, found)
      else (done as (error: null, address: string, family: number) => void)(null, found[0]!.address, found[0]!.family)
    })
  }
  return lookup as LookupFunction
}
