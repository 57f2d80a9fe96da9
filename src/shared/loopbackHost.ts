/**
 * Whether a URL's host names this machine whatever its interfaces: `localhost` (and names under it), 127/8, `::1`, and
 * the unspecified addresses a connection to which reaches it (`0.0.0.0`, `::`). Brackets of an IPv6 host are ignored.
 */
export const isLoopbackHost = (host: string): boolean => {
  const plain = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host
  return plain === "localhost" || plain.endsWith(".localhost") || /^127\.\d+\.\d+\.\d+$/.test(plain) || plain === "::1" || plain === "0.0.0.0" || plain === "::"
}
