/**
 * A `--lifetime` the client cannot keep: it pings at most once a second (`MIN_CALL_INTERVAL`), so a session whose
 * lifetime is under two of those may expire between pings across the network, and the run reads as a session closed by its
 * worker (newcomer 38 #2). Accepted, as the worker accepts it, but said at start.
 */
import { Duration } from "effect"
import { MIN_CALL_INTERVAL } from "./Reservations.js"

export interface HeldFor {
  readonly lifetime: number
  /** How long the run holds its first session, in seconds: the hold, or a demo's ramp and plateau. */
  readonly heldSeconds: number
}

/** The warning for a lifetime the pings cannot keep over the time the session is held; `null` when there is none. */
export const shortLifetimeWarning = ({ lifetime, heldSeconds }: HeldFor): string | null => {
  const shortest = 2 * Duration.toSeconds(MIN_CALL_INTERVAL)
  if (lifetime >= shortest || heldSeconds <= lifetime) return null
  return `warning: --lifetime ${lifetime} is under ${shortest} s: the client pings at most once a second, so a session may expire between pings, before the ${heldSeconds} s it would be held`
}
