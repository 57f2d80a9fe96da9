/**
 * Large answers handed to connections and not yet taken by their clients. A client that pipelines requests with large
 * answers (`/session/get` of a session with a 1 MiB payload) and reads none would make the server hold a copy of each:
 * Node parses a whole read of requests (~260 of 250 bytes in 64 KiB) before it pauses the connection, and sixteen
 * such connections filled the heap (probe 46 H1). Small answers are left out: Node's pause bounds them, and counting
 * them would cost every answer.
 *
 * An answer is counted from the moment it is written until its response closes (taken whole, or its connection gone).
 * A connection may hold `perConnection` characters of them, and all together `total`, except that a connection holding
 * none may always take one: a client that reads its answers is never refused one.
 */

/** Answers of at least this many characters are counted. */
export const LARGE_ANSWER_CHARS = 64 * 1024

export interface HeldAnswers<S> {
  /** Whether an answer of `chars` may be handed to `socket`; if so, it is counted until `release`. */
  readonly take: (socket: S, chars: number) => boolean
  readonly release: (socket: S, chars: number) => void
  /** Characters held by every connection. */
  readonly held: () => number
}

export const makeHeldAnswers = <S extends object>(perConnection: number, total: number): HeldAnswers<S> => {
  const bySocket = new WeakMap<S, number>()
  let held = 0
  return {
    take: (socket, chars) => {
      const mine = bySocket.get(socket) ?? 0
      if (mine > 0 && (mine + chars > perConnection || held + chars > total)) return false
      bySocket.set(socket, mine + chars)
      held += chars
      return true
    },
    release: (socket, chars) => {
      bySocket.set(socket, Math.max(0, (bySocket.get(socket) ?? 0) - chars))
      held -= chars
    },
    held: () => held
  }
}
