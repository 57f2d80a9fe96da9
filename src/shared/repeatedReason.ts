/**
 * A trouble that repeats (a Redis that is down, an autoscaler that does not answer) is said once while it lasts,
 * and again when its reason changes or after it was over: one memory of the last reason said, shared by the programs
 * that retry on their own.
 */
export interface RepeatedReason {
  /** True when `reason` is not the one said last, which it now is. */
  readonly isNew: (reason: string) => boolean
  /** The trouble is over: the next reason is new. True when there was one. */
  readonly clear: () => boolean
}

export const repeatedReason = (): RepeatedReason => {
  let last: string | null = null
  return {
    isNew: (reason) => {
      if (reason === last) return false
      last = reason
      return true
    },
    clear: () => {
      const had = last !== null
      last = null
      return had
    }
  }
}
