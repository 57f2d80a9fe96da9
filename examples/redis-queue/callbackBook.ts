/**
 * What the dispatcher knows of `on_close` callbacks: one Deferred per session it waits on (made by whichever of the
 * create's answer and the callback comes first), the reasons counted, and duplicates noticed. `/closed` needs no
 * login, so everything a callback can add is bounded: a stream of forged callbacks costs a fixed amount of memory.
 */
import { Deferred, Effect } from "effect"
import type { CloseReason } from "../../src/protocol/callback.js"

export interface CallbackLimits {
  /** Callbacks for sessions this run does not know (yet: one can come before its create's answer), oldest dropped. */
  readonly early: number
  /** Sessions whose callback came, kept to count duplicates, oldest dropped. */
  readonly remembered: number
}

const DEFAULT_CALLBACK_LIMITS: CallbackLimits = { early: 1_000, remembered: 10_000 }

/** Add `key` to an insertion-ordered set, dropping the oldest past `max`. */
const remember = (set: Set<string>, key: string, max: number) => {
  set.add(key)
  if (set.size > max) set.delete(set.values().next().value ?? key)
}

export const makeCallbackBook = (limits: CallbackLimits = DEFAULT_CALLBACK_LIMITS) =>
  Effect.sync(() => {
    const closes = new Map<string, Deferred.Deferred<string>>()
    /** Sessions whose Deferred a callback made before this run knew them, oldest first. */
    const early = new Set<string>()
    const seen = new Set<string>()
    const reasons: Partial<Record<CloseReason, number>> = {}
    let duplicates = 0

    const closeOf = (sessionId: string, fromCallback: boolean) =>
      Effect.gen(function* () {
        const existing = closes.get(sessionId)
        if (existing !== undefined) {
          if (!fromCallback) early.delete(sessionId)
          return existing
        }
        const made = yield* Deferred.make<string>()
        closes.set(sessionId, made)
        if (fromCallback) {
          early.add(sessionId)
          if (early.size > limits.early) {
            const oldest = early.values().next().value ?? sessionId
            early.delete(oldest)
            closes.delete(oldest)
          }
        }
        return made
      })

    return {
      /** The session's close, to await: the callback's reason, whether it came before this call or comes after. */
      waitFor: (sessionId: string) => closeOf(sessionId, false),
      /** The session is no longer waited on. */
      forget: (sessionId: string) => Effect.sync(() => void closes.delete(sessionId)),
      /** A callback came. */
      received: (sessionId: string, reason: CloseReason) =>
        Effect.gen(function* () {
          if (seen.has(sessionId)) duplicates += 1
          remember(seen, sessionId, limits.remembered)
          reasons[reason] = (reasons[reason] ?? 0) + 1
          yield* Deferred.succeed(yield* closeOf(sessionId, true), reason)
        }),
      /** For the run's summary line. */
      counts: () => ({ reasons: { ...reasons }, duplicates }),
      /** What the book holds now (tests hold it to its bounds). */
      sizes: () => ({ waiting: closes.size, early: early.size, remembered: seen.size })
    }
  })

export type CallbackBook = Effect.Effect.Success<ReturnType<typeof makeCallbackBook>>
