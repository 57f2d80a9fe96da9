/**
 * The errno (`ECONNREFUSED`, `ETIMEDOUT`, …) behind an error, looked up through its `cause` chain; or its
 * message when it has none. Used where a transport failure is logged or shown: Node's codes say more than
 * "Transport error", and they never carry a URL (which may hold credentials).
 */
export const errnoOf = (error: unknown): string | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 6 && typeof current === "object" && current !== null; depth++) {
    if ("code" in current && typeof current.code === "string") return current.code
    current = "cause" in current ? current.cause : undefined
  }
  return undefined
}

export const transportCause = (error: unknown): string => errnoOf(error) ?? "transport error"
