/**
 * Which connection gives way at a listener's connection cap. Without this, one client holding the cap's worth of
 * idle keep-alive connections keeps everyone else out for the keep-alive timeout (75 s), and again as soon as it
 * reconnects. At the cap, the connection idle the longest is closed for the newcomer, but only one idle for at least
 * `minIdleMs`: a pooled client between two requests (milliseconds apart) keeps its connection, so no request is
 * sent on a connection being closed. Closing every idle connection at the cap, tried first, reset such requests.
 *
 * A connection is idle from its accept until its first request, and from each answer until the next request; a
 * request being read or answered (a long poll included) makes it busy.
 */

export interface IdleConnections<S extends object> {
  /** A connection to track (for TLS, its TCP socket until the handshake is done, then the TLS socket in its place). */
  readonly opened: (socket: S) => void
  /** A request began on the connection; `request` names it (its answer), which `latest` then gives. */
  readonly requested: (socket: S, request: object) => void
  /** The connection's latest request begun, as `requested` named it (undefined for a connection not tracked). */
  readonly latest: (socket: S) => object | undefined
  /** A request on the connection was answered. */
  readonly answered: (socket: S) => void
  readonly closed: (socket: S) => void
  /** Requests begun on the connection and not yet answered (0 for one not tracked). */
  readonly pending: (socket: S) => number
  /** The connection idle the longest, if it has been idle `minIdleMs` or more; it is no longer tracked. */
  readonly takeLongestIdle: () => S | undefined
}

interface Activity {
  /** Requests begun and not answered (more than one when pipelined). */
  pending: number
  idleSince: number
  latest: object | undefined
}

export const makeIdleConnections = <S extends object>(minIdleMs: number, now: () => number): IdleConnections<S> => {
  const tracked = new Map<S, Activity>()
  /** No tracked connection can have been idle `minIdleMs` before this time (a scan found none): no scan until then. */
  let noneBefore = Number.NEGATIVE_INFINITY
  return {
    opened: (socket) => void tracked.set(socket, { pending: 0, idleSince: now(), latest: undefined }),
    requested: (socket, request) => {
      const activity = tracked.get(socket)
      if (activity === undefined) return
      activity.pending++
      activity.latest = request
    },
    answered: (socket) => {
      const activity = tracked.get(socket)
      if (activity === undefined || activity.pending === 0) return
      if (--activity.pending === 0) activity.idleSince = now()
    },
    closed: (socket) => void tracked.delete(socket),
    pending: (socket) => tracked.get(socket)?.pending ?? 0,
    latest: (socket) => tracked.get(socket)?.latest,
    takeLongestIdle: () => {
      const at = now()
      if (at < noneBefore) return undefined
      let longest: S | undefined
      let longestSince = Number.POSITIVE_INFINITY
      for (const [socket, activity] of tracked) {
        if (activity.pending === 0 && activity.idleSince < longestSince) {
          longest = socket
          longestSince = activity.idleSince
        }
      }
      if (longest === undefined || at - longestSince < minIdleMs) {
        // A connection that becomes idle later reaches the age later still.
        noneBefore = (longest === undefined ? at : longestSince) + minIdleMs
        return undefined
      }
      tracked.delete(longest)
      return longest
    }
  }
}
