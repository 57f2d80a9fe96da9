import { DateTime, Effect, Layer, Ref } from "effect"
import { describe, expect, it } from "vitest"
import type { ClientEvent } from "../../src/client/events.js"
import { leftOpenJson, leftOpenLine, makeLeftOpenLedger, watchedBy } from "../../src/client/leftOpen.js"
import { Reporter } from "../../src/client/Reporter.js"

const created = (reservation: number, session_id: string, url: string, expiration: number) =>
  ({ event: "created", reservation, session_id, url, expiration, request_idx: reservation }) as const

describe("the sessions a run leaves open when a second signal quits it", () => {
  it("lists what was created and not seen ended or closed, with the expiration its last ping gave", () => {
    const ledger = makeLeftOpenLedger()
    ledger.observe(created(1, "a", "http://w1", 100))
    ledger.observe(created(2, "b", "http://w2", 100))
    ledger.observe(created(3, "c", "http://w3", 100))
    ledger.observe({ event: "pinged", reservation: 1, session_id: "a", url: "http://w1", expiration: 160 })
    ledger.observe({ event: "ended", reservation: 2, session_id: "b", url: "http://w2" })
    ledger.observe({ event: "closed", reservation: 3, session_id: "c", url: "http://w3", reason: "expired" })
    expect(ledger.leftOpen()).toEqual([{ reservation: 1, session_id: "a", url: "http://w1", expiration: 160 }])
  })

  it("keeps a session whose end was sent, or failed: the worker may still hold it", () => {
    const ledger = makeLeftOpenLedger()
    ledger.observe(created(1, "a", "http://w1", 100))
    ledger.observe({ event: "ending", reservation: 1, session_id: "a", url: "http://w1" })
    ledger.observe({ event: "error", operation: "end", message: "no answer", reservation: 1, session_id: "a", fatal: true })
    expect(ledger.leftOpen().map((session) => session.session_id)).toEqual(["a"])
  })

  it("a ping's answer that comes after the session was seen ended does not list it again", () => {
    const ledger = makeLeftOpenLedger()
    ledger.observe(created(1, "a", "http://w1", 100))
    ledger.observe({ event: "ended", reservation: 1, session_id: "a", url: "http://w1" })
    ledger.observe({ event: "pinged", reservation: 1, session_id: "a", url: "http://w1", expiration: 160 })
    expect(ledger.leftOpen()).toEqual([])
  })

  it("watches every event the run reports, which still reaches the reporter", async () => {
    const ledger = makeLeftOpenLedger()
    const reported = await Effect.runPromise(
      Effect.gen(function* () {
        const events = yield* Ref.make<ReadonlyArray<ClientEvent>>([])
        yield* Effect.flatMap(Reporter, (reporter) => reporter.emit(created(1, "a", "http://w1", 100))).pipe(
          Effect.provide(watchedBy(ledger).pipe(Layer.provide(Reporter.layerRecording(events))))
        )
        return yield* Ref.get(events)
      })
    )
    expect(reported).toEqual([created(1, "a", "http://w1", 100)])
    expect(ledger.leftOpen().map((session) => session.session_id)).toEqual(["a"])
  })

  it("tells one worker's session from another's with the same id", () => {
    const ledger = makeLeftOpenLedger()
    ledger.observe(created(1, "same", "http://w1", 100))
    ledger.observe(created(2, "same", "http://w2", 100))
    ledger.observe({ event: "ended", reservation: 1, session_id: "same", url: "http://w1" })
    expect(ledger.leftOpen().map((session) => session.url)).toEqual(["http://w2"])
  })

  it("says each session, its worker and its expiration, or that none was open; escapes what the worker gave", () => {
    expect(leftOpenLine("SIGINT", [])).toBe("null-worker-client: quit at once by a second SIGINT: no session of this run was known open\n")
    expect(leftOpenLine("SIGINT", [{ reservation: 1, session_id: "a\u001b[2J", url: "http://w1", expiration: 1_800_000_000 }, { reservation: 2, session_id: "b", url: "http://w2", expiration: 1_800_000_000.5 }])).toBe(
      "null-worker-client: quit at once by a second SIGINT, before ending 2 sessions; each holds its worker until it expires or is ended: " +
        "a\\x1b[2J on http://w1 (expires 2027-01-15T08:00:00.000Z), b on http://w2 (expires 2027-01-15T08:00:00.500Z)\n"
    )
    expect(leftOpenLine("SIGTERM", [{ reservation: 1, session_id: "a", url: "http://w1", expiration: 1_800_000_000 }])).toBe(
      "null-worker-client: quit at once by a second SIGTERM, before ending 1 session; each holds its worker until it expires or is ended: " +
        "a on http://w1 (expires 2027-01-15T08:00:00.000Z)\n"
    )
    // Ctrl-\ quits at once the first time (probe 51 F6).
    expect(leftOpenLine("SIGQUIT", [{ reservation: 1, session_id: "a", url: "http://w1", expiration: 1_800_000_000 }])).toBe(
      "null-worker-client: quit at once by SIGQUIT, before ending 1 session; each holds its worker until it expires or is ended: " +
        "a on http://w1 (expires 2027-01-15T08:00:00.000Z)\n"
    )
    // A worker's expiration past any date is said as it came.
    expect(leftOpenLine("SIGINT", [{ reservation: 1, session_id: "a", url: "http://w1", expiration: 1e300 }])).toContain("a on http://w1 (expires 1e+300)")
    const at = DateTime.unsafeMake(0)
    expect(JSON.parse(leftOpenJson("SIGTERM", [], [3], at))).toEqual({ event: "quit", signal: "SIGTERM", left_open: [], reserving: [3], at: "1970-01-01T00:00:00.000Z" })
  })

  it("says the reservations that had no session yet: a create already sent may still open one (review 50 M2)", () => {
    expect(leftOpenLine("SIGINT", [], [2])).toBe(
      "null-worker-client: quit at once by a second SIGINT: no session of this run was known open; 1 reservation (#2) had no session yet: " +
        "a create already sent may still open one, which its worker then holds until its lifetime ends\n"
    )
    expect(leftOpenLine("SIGINT", [{ reservation: 1, session_id: "a", url: "http://w1", expiration: 1_800_000_000 }], [2, 3])).toMatch(
      /\(expires 2027-01-15T08:00:00\.000Z\); 2 reservations \(#2, #3\) had no session yet: /
    )
  })

  it("counts a reservation as reserving from its routing until its session or its failure", () => {
    const ledger = makeLeftOpenLedger()
    for (const reservation of [1, 2, 3, 4]) ledger.observe({ event: "routing", reservation, request_idx: reservation })
    ledger.observe(created(1, "a", "http://w1", 100))
    ledger.observe({ event: "error", operation: "route", message: "timed out", reservation: 2, fatal: true })
    // A create given up that may have opened a session is not a failure of the reservation's: still reserving.
    ledger.observe({ event: "error", operation: "session/create", message: "no answer", reservation: 3, fatal: false })
    ledger.observe({ event: "refused", reservation: 4, url: "http://w2", request_idx: 4, status: 429, message: "full", retry_in: 1 })
    expect(ledger.reserving()).toEqual([3, 4])
  })
})
