/**
 * A create answered with a session id this client already holds. Ids are unique only within one worker, and a worker's
 * answer is untrusted input; the client names its sessions by id everywhere (pings, ends, the autoscale daemon's records
 * and keep set, the consumers' callbacks), so a second session under a held id would hide the first: never pinged or
 * ended, and not counted. The create is refused instead (the reservation routes again) and, when it came from another
 * worker, its session is ended at once so that it holds no worker.
 */
import { Effect, HashMap, Option, Ref } from "effect"
import { UnexpectedResponse } from "./errors.js"
import type { Created, CreateOutcome, Session, VastClient } from "./VastClient.js"

/** Hold `held` under its session id unless that id is held already (in one step): the holder found, if any. */
export const holdUnlessHeld = <H extends { readonly session: Session }>(open: Ref.Ref<HashMap.HashMap<string, H>>, held: H): Effect.Effect<Option.Option<H>> =>
  Ref.modify(open, (all) => {
    const existing = HashMap.get(all, held.session.sessionId)
    return [existing, Option.isSome(existing) ? all : HashMap.set(all, held.session.sessionId, held)] as const
  })

/**
 * One worker's address written two ways (the case of its scheme or host, a default port, a trailing slash) is one
 * worker: ending "the other" session there would close the held one. Two names for one host (a hostname and its IP)
 * cannot be told apart from the answer alone.
 */
export const sameWorker = (a: string, b: string): boolean => workerKey(a) === workerKey(b)

const workerKey = (url: string): string => {
  if (!URL.canParse(url)) return url
  const parsed = new URL(url)
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, "")}${parsed.search}`
}

export const refuseHeldTwice = (
  client: VastClient["Type"],
  created: Created,
  heldOn: string
): Effect.Effect<Extract<CreateOutcome, { readonly _tag: "Refused" }>> =>
  Effect.gen(function* () {
    // UnexpectedResponse's message makes the detail printable.
    const { session } = created
    const id = session.sessionId
    let detail: string
    if (sameWorker(heldOn, session.url)) {
      // On the same worker the id is one session as far as that worker knows: an end would close the held one.
      detail = `session id ${id} is one this client already holds on this worker; refused, not ended (an end would close the one held)`
    } else {
      const ended = yield* Effect.either(client.endSession(session))
      detail =
        ended._tag === "Right"
          ? `session id ${id} is one this client already holds on ${heldOn}; this worker's session was ended at once`
          : `session id ${id} is one this client already holds on ${heldOn}; this worker's session could not be ended (${ended.left.message}): the worker closes it ${session.lifetime} s after its creation`
    }
    return {
      _tag: "Refused",
      // The create's own answer was a success: what is refused is the id in it.
      error: new UnexpectedResponse({ operation: "session/create", url: `${session.url}/session/create`, status: created.status, detail }),
      retryable: true
    } as const
  })
