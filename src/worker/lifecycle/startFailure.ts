/**
 * Why a service failed to start, kept for the launch-failure report. A failure while the layers build can reach
 * `main.ts` as a bare interruption (Effect 3.22's memo map hands the services that share the failed layer an
 * interruption, and the failure itself is lost), so the service that failed notes its reason here as well.
 */
import { Effect } from "effect"

let noted: string | null = null

/** Note `reason` as why start-up failed; the first noted reason stays. */
export const noteStartFailure = (reason: string): Effect.Effect<void> =>
  Effect.sync(() => {
    noted ??= reason
  })

/** The reason noted, if any. */
export const notedStartFailure = (): string | null => noted
