/**
 * Answers handed to connections and not yet taken by their clients. Node parses a whole read of requests (up to 64 KiB:
 * some 2,000 short ones) before it pauses a connection whose client does not read, and each request of it is answered
 * at once: every answer queued behind one not taken is kept whole, with its request. Pipelined `/session/get`s of a
 * session with a large payload, on a few hundred such connections, filled a 4 GiB heap, whatever the answers' size
 * (probe 46 H1, probe 47 H1).
 *
 * Counted: every answer queued behind another (Node gives it no socket yet), and every large one even when it is the
 * one written (the socket keeps what its client has not read). Each costs its body at two bytes a character, the most a
 * string takes in V8's heap, and `QUEUED_ANSWER_BYTES` for its request and response. Counted from the moment it is
 * written until it is taken (`release`: its response's `finish`), or its connection is gone (`gone`: Node gives an
 * answer still queued when its connection closes no event of its own, review 51 M1). A large one is written a piece at
 * a time, and each piece its socket takes is progress (`progressed`), though the answer is held whole until its end:
 * its text is kept to the end (probe 49 M1). A request not run
 * (it came on a connection that takes no more) is counted too, at `QUEUED_ANSWER_BYTES`, until its connection is gone:
 * Node keeps it and its response as long (probe 48 F1: some 3,600 in one read, 6 MiB of heap a connection).
 *
 * A request that comes on a connection holding `perConnection` bytes or more does not run, and the connection takes no
 * more (it closes once the answers before are written; `WireServer` closes it at once past twice that): the share
 * bounds what a connection may ask for while its client takes nothing, whether it reads or not (all the answers to one
 * read are counted before the first can be taken: four `/session/get`s of a 1 MiB payload fit in one go, five when each
 * has a body, which is answered a moment after its request is admitted). All the
 * connections together may hold `total`: past it, other connections are closed until a new answer fits, the one least
 * likely to have a client that reads first (`victimFirst`), those of a client holding more than `perClient` before
 * any other's, and a request coming on a connection that would be the first to close is refused.
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

/** Why a request is refused: its connection holds its share already, or it is the first to close for the total. */
export type Refusal = "share" | "total"

export interface HeldAnswers<S> {
  /**
   * Whether a request that has just come on `socket` may run: `null` if so, else why not (`share`: its connection takes
   * no more, and closes once the answers before are written; `total`: it is closed at once). Asked
   * before the request runs, so that a request refused has done nothing (a `/session/create` whose answer would be
   * dropped would leave a session no one knows of, probe 48 F3).
   */
  readonly admit: (socket: S) => Refusal | null
  /**
   * Counts an answer of `bytes` handed to `socket` until `release` or `gone`; past the total, other connections are
   * handed to `evict` until it fits, unless `socket` is itself the first to go: it is then counted over the total,
   * and its connection's next request is refused.
   */
  readonly take: (socket: S, bytes: number) => void
  readonly release: (socket: S, bytes: number) => void
  /** A piece of an answer `socket` holds was taken: progress, though the answer is still held whole. */
  readonly progressed: (socket: S) => void
  /** `socket` is closed: what it held is no longer counted. */
  readonly gone: (socket: S) => void
  /** Bytes held by every connection. */
  readonly held: () => number
  /** Bytes held by `socket`. */
  readonly heldBy: (socket: S) => number
}

interface Holding {
  bytes: number
  /** Its client (`clientAddress.ts`), whose connections together may hold `perClient` before theirs go first. */
  readonly client: string
  /** When (in takes and releases) it last made progress: began to hold, or had an answer taken. */
  progress: number
}

export interface HeldAnswersOptions<S> {
  readonly perConnection: number
  /**
   * What one client's connections may hold together before they are the first closed for the total: a client that
   * opens connection after connection, reading none, turns the total over faster than a slow reader of another client
   * shows progress (its kernel wakes its writer in bursts, seconds apart).
   */
  readonly perClient: number
  readonly total: number
  /** Who the connection's client is (`clientAddress.ts`). */
  readonly clientOf: (socket: S) => string
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
  // Only clients holding some are in it.
  const byClient = new Map<string, number>()
  let held = 0
  let steps = 0
  const count = (holding: Holding, bytes: number) => {
    holding.bytes += bytes
    held += bytes
    const client = (byClient.get(holding.client) ?? 0) + bytes
    if (client === 0) byClient.delete(holding.client)
    else byClient.set(holding.client, client)
  }
  const gone = (socket: S) => {
    const holding = bySocket.get(socket)
    if (holding === undefined) return
    count(holding, -holding.bytes)
    bySocket.delete(socket)
  }
  const overItsClientShare = (holding: Holding) => (byClient.get(holding.client) ?? 0) > options.perClient
  /**
   * Whether `a` is closed before `b` for the total. A socket its kernel will not empty (its client is not reading, or
   * reads slowly) goes before one it will; among those, the one that has gone longer without an answer taken: a slow
   * reader makes progress, a client that reads nothing does not (probe 48 F2). Among the others, whose answers wait
   * behind a request of their own not yet answered (the kernel took all that was written), nothing says who reads: the
   * one holding more goes first (review 52 M1), then the one longer without progress. Within each of the two, the
   * connections of a client holding more than its share go before the others'. (No two progress stamps are equal:
   * each take and release has its own.)
   */
  const victimFirst = (a: [S, Holding], aStalled: boolean, b: [S, Holding], bStalled: boolean): boolean => {
    if (aStalled !== bStalled) return aStalled
    const aOver = overItsClientShare(a[1])
    if (aOver !== overItsClientShare(b[1])) return aOver
    const older = a[1].progress < b[1].progress
    if (aStalled || a[1].bytes === b[1].bytes) return older
    return a[1].bytes > b[1].bytes
  }
  /** The connection to close first for the total, if any holds some. */
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
    admit: (socket) => {
      // Most requests come while nothing is held.
      if (held === 0) return null
      const mine = bySocket.get(socket)?.bytes ?? 0
      if (mine >= options.perConnection) return "share"
      return mine > 0 && held >= options.total && firstVictim() === socket ? "total" : null
    },
    take: (socket, bytes) => {
      steps += 1
      let holding = bySocket.get(socket)
      if (holding === undefined) {
        holding = { bytes: 0, client: options.clientOf(socket), progress: steps }
        bySocket.set(socket, holding)
        options.watch(socket)
      } else if (holding.bytes === 0) holding.progress = steps
      count(holding, bytes)
      while (held > options.total) {
        const victim = firstVictim()
        // This one is the first to go: counted over the total, and its next request is refused (`admit`).
        if (victim === undefined || victim === socket) break
        gone(victim)
        options.evict(victim)
      }
    },
    release: (socket, bytes) => {
      const holding = bySocket.get(socket)
      // Gone already: settled at its close.
      if (holding === undefined) return
      count(holding, -bytes)
      holding.progress = ++steps
    },
    progressed: (socket) => {
      const holding = bySocket.get(socket)
      if (holding !== undefined) holding.progress = ++steps
    },
    gone,
    held: () => held,
    heldBy: (socket) => bySocket.get(socket)?.bytes ?? 0
  }
}
