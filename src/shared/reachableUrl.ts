/**
 * The base URL by which programs on this machine reach a server bound to `hostname` (the address it is bound to) and
 * `port`. A wildcard address is where to listen, not where to connect: it is reached through the loopback of its
 * family. An IPv6 address goes in brackets.
 */
export const reachableUrl = (hostname: string, port: number): string => {
  const host = hostname === "0.0.0.0" || hostname === "" ? "127.0.0.1" : hostname === "::" ? "::1" : hostname
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`
}
