/**
 * A trouble that repeats (a Redis that is down, an autoscaler that does not answer) is said once while it lasts,
 * and again after it was over: the reasons said since the trouble began are remembered, so that two that alternate
 * (a peer that is not Redis fails one way, then another) are each said once, not at every turn. Shared by the
 * programs that retry on their own.
 */
export interface RepeatedReason {
  /** True when `reason` was not said since the trouble began; it now has been. */
  readonly isNew: (reason: string) => boolean
  /** The trouble is over: every reason is new again. True when one had been said. */
  readonly clear: () => boolean
}

/** Reasons remembered at most: one that keeps changing (a count in its text) is then said again as the oldest goes. */
export const REMEMBERED_REASONS = 16

export const repeatedReason = (): RepeatedReason => {
  const said = new Set<string>()
  return {
    isNew: (reason) => {
      if (said.has(reason)) return false
      if (said.size === REMEMBERED_REASONS) said.delete(said.values().next().value as string)
      said.add(reason)
      return true
    },
    clear: () => {
      const had = said.size > 0
      said.clear()
      return had
    }
  }
}
