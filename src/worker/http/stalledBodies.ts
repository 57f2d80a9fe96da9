/**
 * Which request body gives way at a listener's connection cap once no idle connection does: the one whose connection
 * has received nothing for `minStallMs` or more, the longest. Without this, a client that sends a request's headers and
 * then nothing of its body holds its place until the request limit (30 s), and a few such connections a second keep
 * the port shut (probe 43 I1), where a silent connection between requests gives way after `minStallMs`.
 *
 * Progress is looked at only here, at the cap: what the connection has received (`received`, its `bytesRead`) against
 * what it had at the last look, so a body being read costs its entry and nothing per chunk. A body that moves at all
 * between two looks `minStallMs` apart keeps its place (the request limit still bounds it).
 */

/** A body being read: what its connection had received when last looked at, and since when. */
export interface BodyProgress {
  seenBytes: number
  seenAt: number
}

/** Where the bodies being read are kept, by connection: a `WeakMap`, whose entry for a closed connection goes with it. */
export interface BodiesByConnection<S> {
  readonly get: (socket: S) => BodyProgress | undefined
  readonly delete: (socket: S) => boolean
}

export interface StalledBodies<S> {
  /** The connection whose body has stalled the longest, if `minStallMs` or more; its body is no longer in `bodies`. */
  readonly takeLongestStalled: () => S | undefined
}

export const makeStalledBodies = <S>(
  /** The listener's open connections, a body being read on some of them. */
  connections: Iterable<S>,
  bodies: BodiesByConnection<S>,
  minStallMs: number,
  now: () => number,
  received: (socket: S) => number,
  /** A connection already closed, or closing: never given. */
  gone: (socket: S) => boolean
): StalledBodies<S> => {
  return {
    // Every look looks at every body (no look is skipped until one could be due, as for idle connections): a move it
    // did not see would count from a later look. Looks happen only at the cap with no connection idle, over the cap's
    // connections. They go through the connections, which the listener keeps anyway, so that the bodies can be kept in
    // a `WeakMap`: a `Map` that empties at every request's end reallocates its table each time (docs/performance.md).
    takeLongestStalled: () => {
      const at = now()
      let longest: S | undefined
      let longestSince = Number.POSITIVE_INFINITY
      for (const socket of connections) {
        const progress = bodies.get(socket)
        if (progress === undefined || gone(socket)) continue
        const bytes = received(socket)
        if (bytes !== progress.seenBytes) {
          progress.seenBytes = bytes
          progress.seenAt = at
        }
        if (progress.seenAt < longestSince) {
          longest = socket
          longestSince = progress.seenAt
        }
      }
      if (longest === undefined || at - longestSince < minStallMs) return undefined
      bodies.delete(longest)
      return longest
    }
  }
}
