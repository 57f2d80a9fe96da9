/**
 * Answers handed to connections and not yet taken by their clients. Node parses a whole read of requests (up to 64 KiB:
 * some 2,000 short ones) before it pauses a connection whose client does not read, and each request of it is answered
 * at once: every answer queued behind one not taken is kept whole, with its request. Pipelined `/session/get`s of a
 * session with a large payload, on a few hundred such connections, filled a 4 GiB heap, whatever the answers' size
 * (probe 46 H1, probe 47 H1).
 *
 * Counted: every answer queued behind another (Node gives it no socket yet), and every large one even when it is the
 * one written (the socket keeps what its client has not read). Each costs its body at two bytes a character, the most
 * a string takes in V8's heap, and `QUEUED_ANSWER_BYTES` for its request and response. Counted from the moment it is
 * written until it is taken (`release`: its response's `finish`), or its connection is gone (`gone`: Node gives an
 * answer still queued when its connection closes no event of its own, review 51 M1).
 *
 * A connection holding less than `perConnection` bytes may take one more answer, whatever its size; one holding that
 * much already is closed if it asks for more. A client that reads is never refused: it holds none when it asks. All of
 * them together may hold `total`: past it, the connection that has held answers the longest is closed (its client is
 * the one not reading), until the new answer fits.
 */

/** Answers of at least this many characters are counted even when written (the socket keeps what is not read). */
export const LARGE_ANSWER_CHARS = 64 * 1024

/** What Node keeps for a queued answer besides its body, its request and response (~2.4 KB each measured, Node 20). */
export const QUEUED_ANSWER_BYTES = 2560

/** The bytes an answer of `chars` characters is counted as. */
export const answerBytes = (chars: number): number => 2 * chars + QUEUED_ANSWER_BYTES

export interface HeldAnswers<S> {
  /**
   * Whether an answer of `bytes` may be handed to `socket`; if so, it is counted until `release` or `gone`. Connections
   * closed to make room for it are handed to `evict` first.
   */
  readonly take: (socket: S, bytes: number) => boolean
  readonly release: (socket: S, bytes: number) => void
  /** `socket` is closed: what it held is no longer counted. */
  readonly gone: (socket: S) => void
  /** Bytes held by every connection. */
  readonly held: () => number
}

interface Holding {
  bytes: number
  /** When (in takes) it went from holding none to holding some: the smallest has held answers the longest. */
  since: number
}

export interface HeldAnswersOptions<S> {
  readonly perConnection: number
  readonly total: number
  /** Called once for each connection, at its first answer counted, so that its `close` calls `gone`. */
  readonly watch: (socket: S) => void
  /** Closes a connection to make room; what it held is no longer counted from then. */
  readonly evict: (socket: S) => void
}

export const makeHeldAnswers = <S>(options: HeldAnswersOptions<S>): HeldAnswers<S> => {
  // Emptied at each connection's close; only connections that held an answer are in it.
  const bySocket = new Map<S, Holding>()
  let held = 0
  let takes = 0
  const gone = (socket: S) => {
    const holding = bySocket.get(socket)
    if (holding === undefined) return
    held -= holding.bytes
    bySocket.delete(socket)
  }
  /** The connection other than `socket` that has held answers the longest, if any holds some. */
  const longestHolding = (socket: S): [S, Holding] | undefined => {
    let found: [S, Holding] | undefined
    for (const entry of bySocket) {
      if (entry[0] !== socket && entry[1].bytes > 0 && (found === undefined || entry[1].since < found[1].since)) found = entry
    }
    return found
  }
  return {
    take: (socket, bytes) => {
      let holding = bySocket.get(socket)
      const mine = holding?.bytes ?? 0
      if (mine >= options.perConnection) return false
      while (held + bytes > options.total) {
        const other = longestHolding(socket)
        // This one has held its answers longer than any other: it is the one not reading.
        if (other === undefined || (mine > 0 && holding!.since < other[1].since)) {
          if (mine > 0) return false
          break
        }
        gone(other[0])
        options.evict(other[0])
      }
      takes += 1
      if (holding === undefined) {
        holding = { bytes: 0, since: takes }
        bySocket.set(socket, holding)
        options.watch(socket)
      } else if (holding.bytes === 0) holding.since = takes
      holding.bytes += bytes
      held += bytes
      return true
    },
    release: (socket, bytes) => {
      const holding = bySocket.get(socket)
      // Gone already: settled at its close.
      if (holding === undefined) return
      holding.bytes -= bytes
      held -= bytes
    },
    gone,
    held: () => held
  }
}
