/**
 * Hosts no HTTP callback can reach, refused at create rather than tried six times over half a minute when the session
 * closes (probe 53 I3): a broadcast or multicast address (no TCP connection is made to one) and a name past the 253
 * characters DNS allows. Null for any other host. `hostname` as `URL` gives it: an IPv4 address in dotted decimal, an
 * IPv6 one in brackets.
 */
const IPV4 = /^(\d{1,3})\.\d{1,3}\.\d{1,3}\.\d{1,3}$/

/** The longest name DNS resolves, without its root's final dot. */
const LONGEST_NAME = 253

export const noHttpDestination = (hostname: string): string | null => {
  const ipv4 = IPV4.exec(hostname)
  if (ipv4 !== null) {
    const first = Number(ipv4[1])
    if (hostname === "255.255.255.255") return "a broadcast address takes no HTTP connection"
    return first >= 224 && first <= 239 ? "a multicast address takes no HTTP connection" : null
  }
  if (hostname.startsWith("[")) return /^\[ff/i.test(hostname) ? "a multicast address takes no HTTP connection" : null
  return hostname.replace(/\.$/, "").length > LONGEST_NAME ? `a host name is at most ${LONGEST_NAME} characters` : null
}
