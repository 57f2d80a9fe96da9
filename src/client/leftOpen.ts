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
  /**
   * The reservations begun that have neither a session nor a failure: one may have a create on its way, whose session
   * the worker would hold (no event says when a create is sent).
   */
  readonly reserving: () => ReadonlyArray<number>
}

export const makeLeftOpenLedger = (): LeftOpenLedger => {
  // Keyed by worker and id: two workers may, however unlikely, give the same id.
  const open = new Map<string, LeftOpen>()
  const reserving = new Set<number>()
  const key = (event: { readonly url: string; readonly session_id: string }) => `${event.url} ${event.session_id}`
  return {
    observe: (event) => {
      switch (event.event) {
        case "routing":
          reserving.add(event.reservation)
          return
        case "error":
          // A reservation that failed (its route, or its create) has no session coming.
          if (event.fatal && event.reservation !== undefined && event.session_id === undefined) reserving.delete(event.reservation)
          return
        case "created":
          reserving.delete(event.reservation)
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
    leftOpen: () => [...open.values()],
    reserving: () => [...reserving]
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
export const leftOpenLine = (signal: string, sessions: ReadonlyArray<LeftOpen>, reserving: ReadonlyArray<number> = []): string => {
  const pending =
    reserving.length === 0
      ? ""
      : `; ${reserving.length === 1 ? "1 reservation" : `${reserving.length} reservations`} (#${reserving.join(", #")}) had no session yet: ` +
        "a create already sent may still open one, which its worker then holds until its lifetime ends"
  // SIGQUIT (Ctrl-\\) quits at once the first time: it is the terminal's "stop harder" key.
  const by = signal === "SIGQUIT" ? "SIGQUIT" : `a second ${signal}`
  if (sessions.length === 0) return `null-worker-client: quit at once by ${by}: no session of this run was known open${pending}\n`
  const listed = sessions.map((session) => `${printable(session.session_id)} on ${printable(session.url)} (expires ${expiresAt(session.expiration)})`).join(", ")
  return (
    `null-worker-client: quit at once by ${by}, before ending ${sessions.length === 1 ? "1 session" : `${sessions.length} sessions`}; ` +
    `each holds its worker until it expires or is ended: ${listed}${pending}\n`
  )
}

/** The same, as the last line of a `--json` run: `{"event":"quit","signal":…,"left_open":[…],"reserving":[…],"at":…}`. */
export const leftOpenJson = (signal: string, sessions: ReadonlyArray<LeftOpen>, reserving: ReadonlyArray<number>, at: DateTime.DateTime): string =>
  jsonLine({ event: "quit", signal, left_open: sessions, reserving } satisfies QuitEvent, at)
