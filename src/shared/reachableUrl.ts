/** `http://host:port`, an IPv6 address in brackets. */
export const httpUrl = (host: string, port: number): string => `http://${host.includes(":") ? `[${host}]` : host}:${port}`

/**
 * The base URL by which programs on this machine reach a server bound to `hostname` (the address it is bound to) and
 * `port`. A wildcard address is where to listen, not where to connect: it is reached through the loopback of its
 * family.
 */
export const reachableUrl = (hostname: string, port: number): string =>
  httpUrl(hostname === "0.0.0.0" || hostname === "" ? "127.0.0.1" : hostname === "::" ? "::1" : hostname, port)
