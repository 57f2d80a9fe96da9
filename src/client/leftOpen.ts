/**
 * The sessions a run's events say are open, kept beside the run: a second stop signal quits at once, without the run's
 * own ending of its sessions, and its last words name what may still hold a worker (`main.ts`). A session whose end
 * was sent but not answered, or failed, stays listed: the worker may still hold it.
 */
import { DateTime, Effect, Layer } from "effect"
import type { ClientEvent, LeftOpen, QuitEvent } from "./events.js"
import { jsonLine, Reporter } from "./Reporter.js"
import { printable } from "../shared/printable.js"


export interface LeftOpenLedger {
  /** Notes what `event` says about a session's being open. */
  readonly observe: (event: ClientEvent) => void
  /** The sessions created and not yet seen ended or closed, oldest first. */
  readonly leftOpen: () => ReadonlyArray<LeftOpen>
}

export const makeLeftOpenLedger = (): LeftOpenLedger => {
  // Keyed by worker and id: two workers may, however unlikely, give the same id.
  const open = new Map<string, LeftOpen>()
  const key = (event: { readonly url: string; readonly session_id: string }) => `${event.url} ${event.session_id}`
  return {
    observe: (event) => {
      switch (event.event) {
        case "created":
          open.set(key(event), { reservation: event.reservation, session_id: event.session_id, url: event.url, expiration: event.expiration })
          return
        case "pinged": {
          const held = open.get(key(event))
          if (held !== undefined) open.set(key(event), { ...held, expiration: event.expiration })
          return
        }
        case "ended":
        case "closed":
          open.delete(key(event))
          return
      }
    },
    leftOpen: () => [...open.values()]
  }
}

/** The `Reporter` that `ledger` watches: every event reaches it before it is reported. */
export const watchedBy = (ledger: LeftOpenLedger): Layer.Layer<Reporter, never, Reporter> =>
  Layer.effect(
    Reporter,
    Effect.map(Reporter, (reporter) => Reporter.of({ emit: (event) => Effect.zipRight(Effect.sync(() => ledger.observe(event)), reporter.emit(event)) }))
  )

const expiresAt = (expiration: number): string => {
  const at = DateTime.make(expiration * 1000)
  return at._tag === "Some" ? DateTime.formatIso(at.value) : String(expiration)
}

/** The line on stderr when a second signal quits the run: which sessions, if any, it left open and until when. */
export const leftOpenLine = (signal: string, sessions: ReadonlyArray<LeftOpen>): string => {
  if (sessions.length === 0) return `null-worker-client: quit at once by a second ${signal}: no session of this run was open\n`
  const listed = sessions.map((session) => `${printable(session.session_id)} on ${printable(session.url)} (expires ${expiresAt(session.expiration)})`).join(", ")
  return (
    `null-worker-client: quit at once by a second ${signal}, before ending ${sessions.length === 1 ? "1 session" : `${sessions.length} sessions`}; ` +
    `each holds its worker until it expires or is ended: ${listed}\n`
  )
}

/** The same, as the last line of a `--json` run: `{"event":"quit","signal":…,"left_open":[…],"at":…}`. */
export const leftOpenJson = (signal: string, sessions: ReadonlyArray<LeftOpen>, at: DateTime.DateTime): string =>
  jsonLine({ event: "quit", signal, left_open: sessions } satisfies QuitEvent, at)
