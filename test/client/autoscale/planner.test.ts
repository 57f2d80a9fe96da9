import { assert, describe, it } from "@effect/vitest"
import { type HeldView, initialPlannerState, plan, type PlanInput, type PlannerSettings, type PlannerState, retryDelayMs } from "../../../src/client/autoscale/planner.js"
import { countCap, desiredWorkers, type ScalingRule } from "../../../src/client/autoscale/scalingRule.js"

const rule: ScalingRule = { jobsPerWorker: 1, min: 0, max: 10, activation: 0 }

const settings: PlannerSettings = {
  ...rule,
  cooldownMs: 10_000,
  scaleOutStep: 2,
  scaleOutWindowMs: 1_000,
  retryBaseMs: 1_000,
  retryMaxMs: 8_000
}

const held = (n: number, from = 0): ReadonlyArray<HeldView> =>
  Array.from({ length: n }, (_, i) => ({ sessionId: `s${from + i}`, createdAt: from + i, draining: false, unreachable: false }))

const input = (overrides: Partial<PlanInput>): PlanInput => ({
  now: 100_000,
  reading: { waiting: 0, inFlight: 0 },
  open: [],
  reserving: 0,
  failureStreak: 0,
  lastFailureAt: null,
  ...overrides
})

describe("the scaling rule: clamp(ceil((waiting + in flight) / jobs per worker), min, max)", () => {
  it("follows the formula over a grid of backlogs and settings", () => {
    for (const jobsPerWorker of [1, 2, 3, 5, 10]) {
      for (const min of [0, 1, 3]) {
        for (const max of [min === 0 ? 1 : min, 4, 20]) {
          for (let waiting = 0; waiting <= 60; waiting += 7) {
            for (const inFlight of [0, 1, 4]) {
              const got = desiredWorkers({ waiting, inFlight }, { jobsPerWorker, min, max, activation: 0 })
              const total = waiting + inFlight
              const expected = total === 0 ? min : Math.min(max, Math.max(min, Math.ceil(total / jobsPerWorker)))
              assert.strictEqual(got, expected, `${waiting}+${inFlight} / ${jobsPerWorker} in [${min}, ${max}]`)
              assert.isTrue(got >= min && got <= max)
            }
          }
        }
      }
    }
  })

  it("a waiting count cut at countCap asks for what the whole count would, whatever the activation threshold (review 41 M1)", () => {
    for (const jobsPerWorker of [1, 2, 5]) {
      for (const max of [1, 3]) {
        for (const activation of [0, 2, 5, 12]) {
          const settings: ScalingRule = { jobsPerWorker, min: 0, max, activation }
          for (const inFlight of [0, 1, 3]) {
            for (let waiting = 0; waiting <= 40; waiting++) {
              const cut = Math.min(waiting, countCap(settings))
              assert.strictEqual(
                desiredWorkers({ waiting: cut, inFlight }, settings),
                desiredWorkers({ waiting, inFlight }, settings),
                `${waiting} (${cut} counted) + ${inFlight}, ${JSON.stringify(settings)}`
              )
            }
          }
        }
      }
    }
  })

  it("is monotonic in the backlog", () => {
    for (const jobsPerWorker of [1, 3, 7]) {
      let previous = 0
      for (let total = 0; total <= 100; total++) {
        const got = desiredWorkers({ waiting: total, inFlight: 0 }, { ...rule, jobsPerWorker })
        assert.isTrue(got >= previous)
        previous = got
      }
    }
  })

  it("activates from zero on a single message, whatever the jobs per worker", () => {
    for (const jobsPerWorker of [1, 10, 1000]) {
      assert.strictEqual(desiredWorkers({ waiting: 0, inFlight: 0 }, { ...rule, jobsPerWorker }), 0)
      assert.strictEqual(desiredWorkers({ waiting: 1, inFlight: 0 }, { ...rule, jobsPerWorker }), 1)
      assert.strictEqual(desiredWorkers({ waiting: 0, inFlight: 1 }, { ...rule, jobsPerWorker }), 1)
    }
  })

  it("an activation threshold keeps min until the backlog is above it", () => {
    const withThreshold = { ...rule, activation: 5, min: 1 }
    assert.strictEqual(desiredWorkers({ waiting: 5, inFlight: 0 }, withThreshold), 1)
    assert.strictEqual(desiredWorkers({ waiting: 6, inFlight: 0 }, withThreshold), 6)
    assert.strictEqual(desiredWorkers({ waiting: 0, inFlight: 0 }, { ...rule, activation: 5 }), 0)
  })

  it("negative readings count as zero", () => {
    assert.strictEqual(desiredWorkers({ waiting: -3, inFlight: -1 }, rule), 0)
  })
})

describe("the planner", () => {
  it("from zero, one message starts one reservation", () => {
    const [decision] = plan(initialPlannerState, input({ reading: { waiting: 1, inFlight: 0 } }), settings)
    assert.deepStrictEqual({ desired: decision.desired, start: decision.start, cancel: decision.cancel }, { desired: 1, start: 1, cancel: 0 })
  })

  it("scale-out never starts more than the step per window, whatever the backlog", () => {
    let state: PlannerState = initialPlannerState
    let reserving = 0
    const startsAt: Array<number> = []
    for (let now = 0; now <= 5_000; now += 100) {
      const [decision, next] = plan(state, input({ now, reading: { waiting: 1_000, inFlight: 0 }, reserving }), settings)
      state = next
      reserving += decision.start
      for (let i = 0; i < decision.start; i++) startsAt.push(now)
      if (reserving < 10) assert.include([0, 2], decision.start)
    }
    assert.strictEqual(reserving, 10)
    for (const at of startsAt) assert.isAtMost(startsAt.filter((other) => other > at - settings.scaleOutWindowMs && other <= at).length, settings.scaleOutStep)
    // 10 at 2 per second: the fifth pair starts 4 s after the first.
    assert.strictEqual(startsAt.at(-1), 4_000)
  })

  it("never starts more than max, and never cancels or protects beyond what is held", () => {
    let state: PlannerState = initialPlannerState
    for (let now = 0; now < 60_000; now += 250) {
      const waiting = Math.round(20 + 20 * Math.sin(now / 3_000))
      const open = held(Math.min(10, Math.floor(now / 2_000)))
      const reserving = now % 3 === 0 ? 1 : 0
      const [decision, next] = plan(state, input({ now, reading: { waiting, inFlight: 0 }, open, reserving }), settings)
      state = next
      assert.isAtMost(open.length + reserving + decision.start, Math.max(settings.max, open.length + reserving))
      assert.isAtMost(decision.cancel, reserving)
      assert.isAtMost(decision.keep.length, open.length)
      assert.isTrue(decision.target >= (decision.desired ?? 0))
    }
  })

  it("cool-down: the kept count stays at the highest desired count of the window, then follows it down", () => {
    const open = held(4)
    const [busy, s1] = plan(initialPlannerState, input({ now: 0, reading: { waiting: 4, inFlight: 0 }, open }), settings)
    assert.strictEqual(busy.keep.length, 4)
    const [quiet, s2] = plan(s1, input({ now: 9_000, reading: { waiting: 0, inFlight: 0 }, open }), settings)
    assert.deepStrictEqual({ desired: quiet.desired, target: quiet.target, keep: quiet.keep.length }, { desired: 0, target: 4, keep: 4 })
    const [after] = plan(s2, input({ now: 10_500, reading: { waiting: 0, inFlight: 0 }, open }), settings)
    assert.deepStrictEqual({ target: after.target, keep: after.keep.length, cancel: after.cancel }, { target: 0, keep: 0, cancel: 0 })
    // The window is the cool-down long: a reading exactly that old has left it.
    const [edge] = plan(s2, input({ now: 10_000, reading: { waiting: 0, inFlight: 0 }, open }), settings)
    assert.strictEqual(edge.target, 0)
  })

  it("an oscillating backlog keeps its workers protected the whole time (no flapping)", () => {
    let state: PlannerState = initialPlannerState
    const open = held(5)
    for (let now = 0; now < 60_000; now += 500) {
      const waiting = Math.floor(now / 4_000) % 2 === 0 ? 5 : 0
      const [decision, next] = plan(state, input({ now, reading: { waiting, inFlight: 0 }, open }), settings)
      state = next
      assert.strictEqual(decision.keep.length, 5, `at ${now} ms`)
      assert.strictEqual(decision.start, 0)
    }
  })

  it("protects the oldest sessions first", () => {
    const open = [...held(2, 10), ...held(2, 0)]
    const [decision] = plan(initialPlannerState, input({ reading: { waiting: 2, inFlight: 0 }, open }), settings)
    assert.deepStrictEqual(decision.keep, ["s0", "s1"])
    // Sessions of one millisecond (adopted ones may share it) in a fixed order, by id: the keep set does not change
    // from tick to tick with the order they are held in.
    const twins = [
      { sessionId: "b", createdAt: 5, draining: false, unreachable: false },
      { sessionId: "a", createdAt: 5, draining: false, unreachable: false }
    ]
    for (const order of [twins, [...twins].reverse()]) {
      assert.deepStrictEqual(plan(initialPlannerState, input({ reading: { waiting: 1, inFlight: 0 }, open: order }), settings)[0].keep, ["a"])
    }
  })

  it("cancels only reservations without a session, newest count first, down to the kept count", () => {
    const [decision] = plan(initialPlannerState, input({ reading: { waiting: 1, inFlight: 0 }, open: held(1), reserving: 3 }), settings)
    assert.deepStrictEqual({ start: decision.start, cancel: decision.cancel }, { start: 0, cancel: 3 })
    const [none] = plan(initialPlannerState, input({ reading: { waiting: 0, inFlight: 0 }, open: held(3), reserving: 0 }), settings)
    assert.strictEqual(none.cancel, 0)
  })

  it("a draining or silent worker's session is replaced at once, and not protected", () => {
    const open: ReadonlyArray<HeldView> = [
      { sessionId: "a", createdAt: 0, draining: true, unreachable: false },
      { sessionId: "b", createdAt: 1, draining: false, unreachable: true },
      { sessionId: "c", createdAt: 2, draining: false, unreachable: false }
    ]
    const [decision] = plan(initialPlannerState, input({ reading: { waiting: 3, inFlight: 0 }, open }), settings)
    assert.deepStrictEqual({ start: decision.start, keep: decision.keep }, { start: 2, keep: ["c"] })
  })

  it("backs off after failed reservations: 1 s, 2 s, 4 s … up to the cap", () => {
    assert.deepStrictEqual([0, 1, 2, 3, 4, 5, 40].map((n) => retryDelayMs(n, settings)), [0, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000])
    const failing = input({ now: 10_000, reading: { waiting: 5, inFlight: 0 }, failureStreak: 3, lastFailureAt: 7_000 })
    const [held0] = plan(initialPlannerState, failing, settings)
    assert.deepStrictEqual({ start: held0.start, limited: held0.limited }, { start: 0, limited: "backoff" })
    const [resumed] = plan(initialPlannerState, { ...failing, now: 11_000 }, settings)
    assert.strictEqual(resumed.start, 2)
  })

  it("blind (the backlog cannot be read): nothing started or cancelled, protection kept", () => {
    const open = held(3)
    const [seen, state] = plan(initialPlannerState, input({ now: 0, reading: { waiting: 3, inFlight: 0 }, open }), settings)
    assert.strictEqual(seen.keep.length, 3)
    const [blind] = plan(state, input({ now: 20_000, reading: null, open, reserving: 2 }), settings)
    assert.deepStrictEqual({ desired: blind.desired, start: blind.start, cancel: blind.cancel, keep: blind.keep.length }, { desired: null, start: 0, cancel: 0, keep: 3 })
  })

  it("min keeps that many sessions protected with an empty queue", () => {
    const [decision] = plan(initialPlannerState, input({ reading: { waiting: 0, inFlight: 0 }, open: held(3) }), { ...settings, min: 2 })
    assert.deepStrictEqual({ desired: decision.desired, keep: decision.keep.length }, { desired: 2, keep: 2 })
  })
})
