/**
 * Why a listener could not start, in one line that names what to change: the programs' own listeners (the local
 * serverless, the examples' callback and health servers) take a port from a flag or a variable.
 */

/** `cause` (the platform's `ServeError` cause, or Node's listen error) said for `host:port`, set by `setting`. */
export const listenFailure = (cause: unknown, host: string, port: number, setting: string): string => {
  const code = cause instanceof Error && "code" in cause && typeof cause.code === "string" ? cause.code : null
  if (code === "EADDRINUSE") return `port ${port} is already in use (EADDRINUSE); pick another with ${setting}`
  if (code === "EADDRNOTAVAIL") return `cannot listen on ${host}:${port}: ${host} is not an address of this machine (EADDRNOTAVAIL)`
  const reason = cause instanceof Error ? cause.message : String(cause)
  return `cannot listen on ${host}:${port}: ${reason}`
}
