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
 * much already is closed if it asks for more. The share bounds what a connection asks for in one go, whether its client
 * reads or not: all the answers to one read are counted before the first can be taken (four `/session/get`s of a 1 MiB
 * payload fit). All the connections together may hold `total`: past it, connections are closed until the new answer
 * fits, the one least likely to have a client that reads first (`victimFirst`).
 */

/** Answers of at least this many characters are counted even when written (the socket keeps what is not read). */
export const LARGE_ANSWER_CHARS = 64 * 1024

/**
 * What Node keeps for a queued answer besides its body, its request and response: 1.1–2.4 KB of heap a queued short
 * answer measured on Node 20 (after a collection), so counted on the safe side.
 */
export const QUEUED_ANSWER_BYTES = 2560

/** The bytes an answer of `chars` characters is counted as. */
export const answerBytes = (chars: number): number => 2 * chars + QUEUED_ANSWER_BYTES

/** Why an answer was refused: its connection holds its share already, or it is the first to close for the total. */
export type Refusal = "share" | "total"

export interface HeldAnswers<S> {
  /**
   * Whether an answer of `bytes` may be handed to `socket`: `null` if so (it is counted until `release` or `gone`),
   * else why not. Connections closed to make room for it are handed to `evict` first.
   */
  readonly take: (socket: S, bytes: number) => Refusal | null
  readonly release: (socket: S, bytes: number) => void
  /** `socket` is closed: what it held is no longer counted. */
  readonly gone: (socket: S) => void
  /** Bytes held by every connection. */
  readonly held: () => number
}

interface Holding {
  bytes: number
  /** When (in takes and releases) it last made progress: began to hold, or had an answer taken. */
  progress: number
}

export interface HeldAnswersOptions<S> {
  readonly perConnection: number
  readonly total: number
  /** Whether the socket holds bytes its kernel would not take: its client is not reading (or reads slowly). */
  readonly stalled: (socket: S) => boolean
  /** Called once for each connection, at its first answer counted, so that its `close` calls `gone`. */
  readonly watch: (socket: S) => void
  /** Closes a connection to make room; what it held is no longer counted from then. */
  readonly evict: (socket: S) => void
}

export const makeHeldAnswers = <S>(options: HeldAnswersOptions<S>): HeldAnswers<S> => {
  // Emptied at each connection's close; only connections that held an answer are in it.
  const bySocket = new Map<S, Holding>()
  let held = 0
  let steps = 0
  const gone = (socket: S) => {
    const holding = bySocket.get(socket)
    if (holding === undefined) return
    held -= holding.bytes
    bySocket.delete(socket)
  }
  /**
   * Whether `a` is closed before `b` for the total: a socket its kernel will not empty first (the client is not
   * reading; one whose answers wait behind its own slow request is not), then the one holding more, then the one that
   * has gone longer without an answer taken. A client that reads holds little, and makes progress.
   */
  const victimFirst = (a: [S, Holding], aStalled: boolean, b: [S, Holding], bStalled: boolean): boolean =>
    aStalled !== bStalled ? aStalled : a[1].bytes !== b[1].bytes ? a[1].bytes > b[1].bytes : a[1].progress < b[1].progress
  /** The connection to close first for the total, `socket`'s own included (if it holds some), if any holds some. */
  const firstVictim = (): S | undefined => {
    let found: [S, Holding] | undefined
    let foundStalled = false
    for (const entry of bySocket) {
      if (entry[1].bytes <= 0) continue
      const stalled = options.stalled(entry[0])
      if (found === undefined || victimFirst(entry, stalled, found, foundStalled)) {
        found = entry
        foundStalled = stalled
      }
    }
    return found?.[0]
  }
  return {
    take: (socket, bytes) => {
      let holding = bySocket.get(socket)
      const mine = holding?.bytes ?? 0
      if (mine >= options.perConnection) return "share"
      while (held + bytes > options.total) {
        const victim = firstVictim()
        // No other holds any: an answer larger than the total, to a connection that holds none, is still taken.
        if (victim === undefined) break
        if (victim === socket) return "total"
        gone(victim)
        options.evict(victim)
      }
      steps += 1
      if (holding === undefined) {
        holding = { bytes: 0, progress: steps }
        bySocket.set(socket, holding)
        options.watch(socket)
      } else if (holding.bytes === 0) holding.progress = steps
      holding.bytes += bytes
      held += bytes
      return null
    },
    release: (socket, bytes) => {
      const holding = bySocket.get(socket)
      // Gone already: settled at its close.
      if (holding === undefined) return
      holding.bytes -= bytes
      held -= bytes
      holding.progress = ++steps
    },
    gone,
    held: () => held
  }
}
