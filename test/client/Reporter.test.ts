import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Ref, TestClock } from "effect"
import { SessionClosed, SessionUnknown } from "../../src/client/errors.js"
import { type ClientEvent, describe as sentence } from "../../src/client/events.js"
import { type LiveState, Reporter, applyEvent, renderFrame, renderTable } from "../../src/client/Reporter.js"
import { terminalWidth } from "../../src/client/terminalWidth.js"

const created = (reservation: number, url: string): ClientEvent => ({
  event: "created",
  reservation,
  session_id: `s-${reservation}`,
  url,
  expiration: 100,
  request_idx: reservation
})

const printed = (layer: (write: (text: string) => Effect.Effect<void>) => Layer.Layer<Reporter>, events: ReadonlyArray<ClientEvent>) =>
  Effect.gen(function* () {
    const out = yield* Ref.make("")
    yield* Effect.scoped(
      Effect.flatMap(Layer.build(layer((text) => Ref.update(out, (all) => all + text))), (context) =>
        Effect.forEach(events, (event) => Effect.flatMap(Effect.provide(Reporter, context), (reporter) => reporter.emit(event)))
      )
    )
    return yield* Ref.get(out)
  })

describe("Reporter", () => {
  it.effect("a run's last word is written as kept: the done event in JSON and plain lines, the final table; no other event is", () =>
    Effect.gen(function* () {
      const done: ClientEvent = { event: "done", created: 1, ended: 1, closed: 0, gone_with_worker: 0, closed_after_cut: 0, failures: 0, interrupted: false }
      for (const layer of [Reporter.layerJson, Reporter.layerPlain]) {
        const writes = yield* Ref.make<ReadonlyArray<readonly [string, boolean]>>([])
        yield* Effect.scoped(
          Effect.flatMap(Layer.build(layer((text, kept = false) => Ref.update(writes, (all) => [...all, [text, kept] as const]))), (context) =>
            Effect.forEach([created(1, "http://w1"), done], (event) => Effect.flatMap(Effect.provide(Reporter, context), (reporter) => reporter.emit(event)))
          )
        )
        const kept = (yield* Ref.get(writes)).map(([text, isKept]) => [isKept, /done|#\s+STATE/.test(text)])
        // Each write kept exactly when it is the done line or the final table.
        assert.deepStrictEqual(kept.map(([isKept, last]) => isKept === last), kept.map(() => true))
        assert.isTrue(kept.some(([isKept]) => isKept))
      }
    })
  )

  it("a worker's expiration is shown within what a session can be: a past one says so, one past the longest lifetime (7 days) too", () => {
    const at = (expiration: number) => sentence({ event: "created", reservation: 1, session_id: "s-1", url: "http://w1", expiration, request_idx: 1 }, 1_000_000)
    assert.strictEqual(at(1_030), "#1 created session s-1 on http://w1, expires in 30 s")
    assert.strictEqual(at(1_000 + 604_800), "#1 created session s-1 on http://w1, expires in 604800 s")
    // The worker's clock a little ahead of ours is no fault of its answer.
    assert.strictEqual(at(1_000 + 604_860), "#1 created session s-1 on http://w1, expires in 604860 s")
    assert.strictEqual(at(-5), "#1 created session s-1 on http://w1, expires now (the worker's expiration is already past)")
    assert.strictEqual(at(Number.NaN), "#1 created session s-1 on http://w1, expires now (the worker's expiration is already past)")
    assert.strictEqual(at(1_000 + 604_861), "#1 created session s-1 on http://w1, expires in over 604800 s (the worker's expiration is past the longest lifetime)")
    assert.strictEqual(at(1e308), "#1 created session s-1 on http://w1, expires in over 604800 s (the worker's expiration is past the longest lifetime)")
    assert.strictEqual(
      sentence({ event: "pinged", reservation: 1, session_id: "s-1", url: "http://w1", expiration: 1e308 }, 1_000_000),
      "#1 pinged session s-1, expires in over 604800 s (the worker's expiration is past the longest lifetime)"
    )
  })

  it("a closed session's line gives the reason as it came: the worker's close (most often its consumer's release), its going, or an end whose answer was cut", () => {
    assert.strictEqual(
      sentence({ event: "closed", reservation: 2, session_id: "s-2", url: "http://w2", reason: "released by its consumer or closed by its worker (410 on /ping)" }, 0),
      "#2 session s-2 closed: released by its consumer or closed by its worker (410 on /ping)"
    )
  })

  it("the summary counts apart the sessions told closed after an end whose answer was lost, and those gone with their worker, and names them only when some were", () => {
    const done = (closedAfterCut: number, goneWithWorker = 0): ClientEvent => ({
      event: "done",
      created: 3,
      ended: 1,
      closed: 1,
      gone_with_worker: goneWithWorker,
      closed_after_cut: closedAfterCut,
      failures: 0,
      interrupted: false
    })
    assert.strictEqual(sentence(done(0), 0), "done: 3 created, 1 ended, 1 closed by the worker, 0 failure(s)")
    assert.strictEqual(sentence(done(1), 0), "done: 3 created, 1 ended, 1 closed by the worker, 1 closed after an end whose answer was lost, 0 failure(s)")
    // A worker lost is not a session its consumer released (client probe 51 F9).
    assert.strictEqual(sentence(done(0, 1), 0), "done: 3 created, 1 ended, 1 closed by the worker, 1 found with their worker gone, 0 failure(s)")
  })

  it("a session id past the protocol's longest is shown cut, in an error's message too (probe 43 I3, probe 44 F6)", () => {
    const long = "x".repeat(500_000)
    assert.strictEqual(sentence({ event: "ended", reservation: 1, session_id: long, url: "http://w1" }, 0), `#1 ended session ${"x".repeat(256)}…`)
    // An error about it too (probe 44 F6): its message quoted ~2,000 characters of the id.
    const unknown = new SessionUnknown({ operation: "session/end", sessionId: long })
    assert.strictEqual(
      sentence({ event: "error", operation: "session/end", message: unknown.message, reservation: 1, session_id: long, fatal: true }, 0),
      `#1 error (session/end): the worker does not know session ${"x".repeat(256)}…`
    )
    assert.strictEqual(new SessionClosed({ sessionId: long }).message, `session ${"x".repeat(256)}… was already closed by the worker`)
  })

  it.effect("--json prints one object per line with the event's fields and an ISO `at`", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1_000)
      const text = yield* printed(Reporter.layerJson, [created(1, "http://w1"), { event: "ended", reservation: 1, session_id: "s-1", url: "http://w1" }])
      assert.strictEqual(
        text,
        '{"event":"created","reservation":1,"session_id":"s-1","url":"http://w1","expiration":100,"request_idx":1,"at":"1970-01-01T00:00:01.000Z"}\n' +
          '{"event":"ended","reservation":1,"session_id":"s-1","url":"http://w1","at":"1970-01-01T00:00:01.000Z"}\n'
      )
    })
  )

  it.effect("plain output is one timestamped sentence per event, then the final table once", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(40_000)
      const text = yield* printed(Reporter.layerPlain, [created(2, "http://w2"), { event: "interrupted" }])
      // The sentences, then (when the reporter closes) the table, once.
      assert.strictEqual(
        text,
        [
          "1970-01-01T00:00:40.000Z #2 created session s-2 on http://w2, expires in 60 s",
          "1970-01-01T00:00:40.000Z interrupted: no new reservations; ending any open sessions before exiting",
          "",
          "#  STATE  SESSION  WORKER     AGE  EXPIRES IN",
          "2  open   s-2      http://w2  0s   1m00s",
          "",
          "workers in use: 1",
          ""
        ].join("\n")
      )
    })
  )

  it.effect("what a worker sent is printed without control characters, and URLs without credentials or query, as text", () =>
    Effect.gen(function* () {
      const hostile: ClientEvent = {
        event: "created",
        reservation: 1,
        session_id: "\u001b[2J\u001b]0;title\u0007\nforged\u009b\u202e",
        url: "http://user:PASSWORD@w1:5000/?token=TOKEN",
        expiration: 100,
        request_idx: 1
      }
      // The live view's own sequences (rewind, clear) are the only control characters it may write.
      for (const layer of [Reporter.layerPlain, (write: (text: string) => Effect.Effect<void>) => Reporter.layerLive(write)]) {
        const text = yield* printed(layer, [hostile])
        assert.notMatch(text.replaceAll("\n", "").replace(/\u001b\[([0-9]+F|0J|K)/g, ""), /[\u0000-\u001f\u007f-\u009f\u202e]/, text)
        assert.notInclude(text, "PASSWORD")
        assert.notInclude(text, "TOKEN")
        assert.include(text, "\\x1b[2J")
      }
      // A plain line stays one line: the id's newline is escaped, not written.
      const plain = yield* printed(Reporter.layerPlain, [hostile])
      assert.match(plain.split("\n")[0] ?? "", /created session \\x1b\[2J\\x1b\]0;title\\x07\\x0aforged\\x9b\\u202e on http:\/\/w1:5000\/\?…/)
    })
  )

  it.effect("--json keeps the worker's values exact, with every character a terminal would act on escaped as JSON", () =>
    Effect.gen(function* () {
      const sessionId = "\u001b[2J\nforged\u009b\u202e"
      const url = "https://proxy.test/w/?wt=3"
      const text = yield* printed(Reporter.layerJson, [{ event: "created", reservation: 1, session_id: sessionId, url, expiration: 100, request_idx: 1 }])
      assert.notMatch(text.replace(/\n$/, ""), /[\u0000-\u001f\u007f-\u009f\u202e]/)
      assert.deepInclude(JSON.parse(text), { session_id: sessionId, url })
    })
  )

  it("workers are counted by their exact URL: two behind one proxy, told apart by their query, are two", () => {
    const state = [created(1, "https://proxy.test/w/?wt=3"), created(2, "https://proxy.test/w/?wt=4")].reduce(
      (current, event) => applyEvent(current, event, 0),
      { rows: [], last: "" } as LiveState
    )
    const lines = renderTable(state, 0)
    assert.strictEqual(lines.at(-1), "workers in use: 2")
    // Shown without their queries, as every URL is.
    assert.isTrue(lines.slice(1, 3).every((line) => line.includes("https://proxy.test/w/?…")))
  })

  it("the table's time to expiry stays within a session's bounds whatever the worker said (past, NaN, 1e308)", () => {
    const expiring = (expiration: number): ClientEvent => ({ event: "created", reservation: 1, session_id: "s-1", url: "http://w1", expiration, request_idx: 1 })
    const expiresIn = (expiration: number) => renderTable(applyEvent({ rows: [], last: "" }, expiring(expiration), 0), 0)[1]?.split(/\s+/).at(-1)
    assert.deepStrictEqual([expiresIn(-5), expiresIn(Number.NaN), expiresIn(1e308), expiresIn(90)], ["0s", "0s", "10080m00s", "1m30s"])
  })

  it("the live table shows age, time to expiry and state per reservation, and counts distinct workers in use", () => {
    const events: ReadonlyArray<ClientEvent> = [
      created(1, "http://w1"),
      created(2, "http://w1"),
      { event: "routing", reservation: 3, request_idx: 0 },
      created(4, "http://w2"),
      { event: "ended", reservation: 4, session_id: "s-4", url: "http://w2" }
    ]
    const state = events.reduce<LiveState>((current, event) => applyEvent(current, event, 10_000), { rows: [], last: "" })
    const lines = renderTable(state, 75_000)
    assert.deepStrictEqual(lines.slice(1, 5).map((line) => line.split(/\s+/)), [
      ["1", "open", "s-1", "http://w1", "1m05s", "25s"],
      ["2", "open", "s-2", "http://w1", "1m05s", "25s"],
      ["3", "routing", "-", "-", "-", "-"],
      ["4", "ended", "s-4", "http://w2", "-", "-"]
    ])
    assert.strictEqual(lines.at(-1), "workers in use: 1")
    // A live frame adds the latest event, and cuts each line to the terminal's width.
    const frame = renderFrame(state, 75_000, 12)
    assert.strictEqual(frame.at(-1), "#4 ended ses")
    assert.isTrue(frame.every((line) => line.length <= 12))
    // Ctrl-C: a reservation still looking for a worker is cancelled; the others keep their state.
    const stopped = applyEvent(state, { event: "interrupted" }, 80_000)
    assert.deepStrictEqual(stopped.rows.map((row) => row.state), ["open", "open", "cancelled", "ended"])
  })

  it("an end that failed shows as `end failed` with its time to expiry, and is counted apart from the workers in use", () => {
    const events: ReadonlyArray<ClientEvent> = [
      created(1, "http://w1"),
      created(2, "http://w2"),
      { event: "ending", reservation: 1, session_id: "s-1", url: "http://w1" },
      { event: "error", operation: "session/end", message: "connection refused", reservation: 1, session_id: "s-1", fatal: true },
      // Any other failure leaves an open session open.
      { event: "error", operation: "ping", message: "timed out", reservation: 2, session_id: "s-2", fatal: false }
    ]
    const state = events.reduce<LiveState>((current, event) => applyEvent(current, event, 10_000), { rows: [], last: "" })
    const lines = renderTable(state, 75_000)
    assert.deepStrictEqual(lines.slice(1, 3).map((line) => line.split(/\s{2,}/)), [
      ["1", "end failed", "s-1", "http://w1", "1m05s", "25s"],
      ["2", "open", "s-2", "http://w2", "1m05s", "25s"]
    ])
    assert.strictEqual(lines.at(-1), "workers in use: 1 (and 1 whose end failed: a worker may hold it until it expires)")
  })

  it("a failed /route/ call is said with its count and wait; the reservation shows as retrying, and Ctrl-C cancels it", () => {
    const event: ClientEvent = {
      event: "route_failed",
      reservation: 2,
      request_idx: 7,
      attempt: 2,
      status: 502,
      message: "route: https://run.test/route/ answered 502: bad gateway",
      retry_in: 2.4
    }
    assert.strictEqual(
      sentence(event, 0),
      "#2 routing failed (route: https://run.test/route/ answered 502: bad gateway; 2 of 5 in a row), routing again in 2.4 s"
    )
    const state = applyEvent({ rows: [], last: "" }, event, 0)
    assert.deepStrictEqual(state.rows.map((row) => [row.reservation, row.state]), [[2, "retrying"]])
    assert.deepStrictEqual(applyEvent(state, { event: "interrupted" }, 0).rows.map((row) => row.state), ["cancelled"])
  })

  it.effect("on a terminal that reports no size the live view draws whole lines", () =>
    Effect.gen(function* () {
      const text = yield* printed((write) => Reporter.layerLive(write, terminalWidth({ columns: 0 })), [created(1, "http://w1")])
      assert.include(text, "http://w1")
      assert.include(text, "workers in use: 1")
    })
  )

  it("terminalWidth: the terminal's columns, or no limit when it reports none", () => {
    assert.strictEqual(terminalWidth({ columns: 120 })(), 120)
    for (const columns of [0, undefined, -3, Number.NaN, 1.5]) assert.strictEqual(terminalWidth({ columns })(), Number.POSITIVE_INFINITY, String(columns))
    // Read at each frame: a resized terminal draws at its new width.
    const stream: { columns: number } = { columns: 80 }
    const width = terminalWidth(stream)
    stream.columns = 100
    assert.strictEqual(width(), 100)
  })
})
