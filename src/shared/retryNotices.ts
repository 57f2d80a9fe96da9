/**
 * What a step retried a fixed number of times says of each failure: the first as a warning, with how long the tries
 * go on (`every 1 s for up to 10 s (BIND_RETRY_SECONDS)`), each later one at debug level (a warning a second says
 * nothing new), none after the last (no try follows it). Shared by the listeners' taken ports and the journal's lock.
 */
import { Effect } from "effect"

export const retryNotices = (retries: number, howLong: string) => {
  let failed = 0
  /** Said for one failure whose message is `message`: nothing once the retries are spent. */
  return (message: string): Effect.Effect<void> => {
    if (failed >= retries) return Effect.void
    failed += 1
    return failed === 1
      ? Effect.logWarning(`${message}; trying again ${howLong}`)
      : Effect.logDebug(`${message}; trying again (try ${failed + 1} of ${retries + 1})`)
  }
}
