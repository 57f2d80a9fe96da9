import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Ref } from "effect"
import { type LiveView, AutoscaleReporter, applyAutoscaleEvent, renderAutoscaleFrame } from "../../../src/client/autoscale/AutoscaleReporter.js"
import { type AutoscaleEvent, describeAutoscale } from "../../../src/client/autoscale/events.js"

const scale: AutoscaleEvent = {
  event: "scale",
  waiting: 12,
  in_flight: 3,
  desired: 4,
  target: 5,
  held: 2,
  reserving: 2,
  draining: 0,
  unreachable: 1,
  start: 2,
  cancel: 0,
  limited: "rate"
}

describe("the daemon's reports", () => {
  it("a decision in one line: backlog, desired, kept, held, what it does and what held it back", () => {
    assert.strictEqual(
      describeAutoscale(scale),
      "backlog 12 waiting + 3 in flight → desired 4, kept 5; held 2 (+2 reserving), 1 not answering: start 2 (held back: scale-out rate)"
    )
    assert.strictEqual(
      describeAutoscale({ ...scale, waiting: null, in_flight: null, desired: null, reserving: 0, unreachable: 0, start: 0, limited: null }),
      "backlog ? waiting + ? in flight → desired ?, kept 5; held 2"
    )
  })

  it("the stop in one line: nothing held, all recorded, or how many a restart cannot adopt", () => {
    assert.strictEqual(describeAutoscale({ event: "stopped", held: 0, unrecorded: 0 }), "stopped (no session held)")
    assert.strictEqual(describeAutoscale({ event: "stopped", held: 3, unrecorded: 0 }), "stopped (3 session(s) open at their last ping, recorded for the next start)")
    assert.match(describeAutoscale({ event: "stopped", held: 3, unrecorded: 1 }), /^stopped \(3 session\(s\) open at their last ping; 1 could not be recorded, so the next start cannot adopt them: /)
  })

  it("the live view: the decision, a row per reservation being made or held, closed ones counted", () => {
    const events: ReadonlyArray<AutoscaleEvent> = [
      scale,
      { event: "reserving", reservation: 1 },
      { event: "reserving", reservation: 2 },
      { event: "created", reservation: 1, session_id: "s-1", url: "http://w1", generation: 1, expiration: 70 },
      { event: "pinged", reservation: 1, session_id: "s-1", expiration: 90 },
      { event: "cancelled", reservation: 2 },
      { event: "adopted", reservation: 7, session_id: "s-7", url: "http://w7" },
      { event: "draining", reservation: 7, session_id: "s-7", url: "http://w7" },
      { event: "reserving", reservation: 8 },
      { event: "created", reservation: 8, session_id: "s-8", url: "http://w8", generation: 2, expiration: 80 },
      { event: "closed", reservation: 8, session_id: "s-8", url: "http://w8", reason: "released" }
    ]
    const view = events.reduce<LiveView>((current, event) => applyAutoscaleEvent(current, event, 10_000), { decision: "", rows: [], closed: 0, last: "" })
    const frame = renderAutoscaleFrame(view, 30_000, 200)
    assert.strictEqual(frame[0], `last decision: ${describeAutoscale(scale)}`)
    assert.deepStrictEqual(frame.slice(2, 5), [
      "#  STATE     SESSION  WORKER     AGE  EXPIRES IN",
      "1  open      s-1      http://w1  20s  1m00s",
      "7  draining  s-7      http://w7  20s  -"
    ])
    assert.strictEqual(frame.at(-2), "sessions held: 2, closed so far: 1")
    assert.strictEqual(frame.at(-1), "#8 session s-8 closed: released")
    assert.isTrue(renderAutoscaleFrame(view, 30_000, 10).every((line) => line.length <= 10))
  })

  it("the error the daemon stopped on stays in the live view after the stop's own events", () => {
    const fatal: AutoscaleEvent = { event: "error", operation: "endpoint lookup", message: 'endpoint "nosuch" could not be found among your endpoints', fatal: true }
    const stopped = ([fatal, { event: "stopping", held: 0, reserving: 0 }, { event: "stopped", held: 0, unrecorded: 0 }] as const).reduce<LiveView>(
      (current, event) => applyAutoscaleEvent(current, event, 10_000),
      { decision: "", rows: [], closed: 0, last: "" }
    )
    const frame = renderAutoscaleFrame(stopped, 10_000, 200)
    assert.strictEqual(frame.at(-2), describeAutoscale({ event: "stopped", held: 0, unrecorded: 0 }))
    assert.strictEqual(frame.at(-1), describeAutoscale(fatal))
    assert.include(frame.at(-1), 'endpoint "nosuch" could not be found')
    // While it is the latest event, it is shown once.
    assert.lengthOf(renderAutoscaleFrame(applyAutoscaleEvent({ decision: "", rows: [], closed: 0, last: "" }, fatal, 0), 0, 200).filter((line) => line.includes("nosuch")), 1)
  })

  it.effect("plain lines leave pings out; JSON lines keep every event", () =>
    Effect.gen(function* () {
      const written = yield* Ref.make<ReadonlyArray<string>>([])
      const write = (text: string) => Ref.update(written, (all) => [...all, text])
      const ping: AutoscaleEvent = { event: "pinged", reservation: 1, session_id: "s-1", expiration: 90 }
      yield* Effect.flatMap(AutoscaleReporter, (reporter) => Effect.zipRight(reporter.emit(ping), reporter.emit(scale))).pipe(
        Effect.provide(AutoscaleReporter.layerPlain(write))
      )
      const plain = yield* Ref.getAndSet(written, [])
      assert.strictEqual(plain.length, 1)
      assert.match(plain[0] ?? "", /^\d{4}-\d\d-\d\dT.* backlog 12 waiting/)
      yield* Effect.flatMap(AutoscaleReporter, (reporter) => Effect.zipRight(reporter.emit(ping), reporter.emit(scale))).pipe(
        Effect.provide(AutoscaleReporter.layerJson(write))
      )
      const json = yield* Ref.get(written)
      assert.strictEqual(json.length, 2)
      assert.match(json[0] ?? "", /^\{"event":"pinged","reservation":1,"session_id":"s-1","expiration":90,"at":"/)
    })
  )

  it.effect("a worker's session id and URL are printed escaped and without credentials as text; JSON keeps them exact", () =>
    Effect.gen(function* () {
      const written = yield* Ref.make<ReadonlyArray<string>>([])
      const write = (text: string) => Ref.update(written, (all) => [...all, text])
      const created: AutoscaleEvent = { event: "created", reservation: 1, session_id: "\u001b[2J\nx", url: "http://u:PASSWORD@w1/", generation: 1, expiration: 70 }
      const emit = (layer: Layer.Layer<AutoscaleReporter>) => Effect.scoped(Effect.flatMap(Layer.build(layer), (context) => Effect.flatMap(Effect.provide(AutoscaleReporter, context), (reporter) => reporter.emit(created))))
      yield* emit(AutoscaleReporter.layerPlain(write))
      yield* emit(AutoscaleReporter.layerLive(write))
      const text = (yield* Ref.getAndSet(written, [])).join("")
      assert.notMatch(text.replaceAll("\n", "").replace(/\u001b\[([0-9]+F|0J|K)/g, ""), /[\u0000-\u001f]/, text)
      assert.notInclude(text, "PASSWORD")
      assert.include(text, "x1b[2J")
      yield* emit(AutoscaleReporter.layerJson(write))
      const [json = ""] = yield* Ref.get(written)
      assert.notMatch(json.replace(/\n$/, ""), /[\u0000-\u001f]/)
      assert.deepInclude(JSON.parse(json), { session_id: created.session_id, url: "http://u:PASSWORD@w1/" })
    })
  )
})
