import { assert, it as effect } from "@effect/vitest"
import { Clock, Effect, TestClock } from "effect"
import { describe, expect, it } from "vitest"
import {
  decide,
  displayState,
  displayStates,
  freeableLoad,
  sdkStatusOf,
  idleSinceAfter,
  pressingRequests,
  recommended,
  REPORT_GRACE_MS,
  routeTarget,
  SILENCE_LIMIT_MS,
  silentTooLong,
  neverReady,
  START_LIMIT_MS,
  vastDefaults,
  type WorkerView
} from "../../src/serverless/scaling.js"

const worker = (id: number, overrides: Partial<WorkerView> = {}): WorkerView => ({
  id,
  phase: "ready",
  curLoad: 0,
  maxPerf: 100,
  routedLoad: 0,
  idleSince: 0,
  ...overrides
})

describe("routeTarget", () => {
  it("recommended settings (max_queue_time 0): only a worker with no load is routable", () => {
    expect(routeTarget([worker(1, { curLoad: 100 }), worker(2)], recommended)?.id).toBe(2)
    expect(routeTarget([worker(1, { curLoad: 100 })], recommended)).toBeUndefined()
    // What was routed but not yet reported counts too.
    expect(routeTarget([worker(1, { routedLoad: 100 })], recommended)).toBeUndefined()
  })

  it("default max_queue_time (30 s): an occupied worker still looks available — the README's over-routing", () => {
    expect(routeTarget([worker(1, { curLoad: 100 })], vastDefaults)?.id).toBe(1)
  })

  it("never routes to a worker that is starting, stopping, errored or has not reported max_perf", () => {
    for (const phase of ["starting", "stopping", "errored"] as const) expect(routeTarget([worker(1, { phase })], vastDefaults)).toBeUndefined()
    expect(routeTarget([worker(1, { maxPerf: 0 })], vastDefaults)).toBeUndefined()
  })

  it("prefers the least loaded worker", () => {
    expect(routeTarget([worker(1, { curLoad: 200 }), worker(2, { curLoad: 100 })], vastDefaults)?.id).toBe(2)
  })
})

describe("decide", () => {
  it("a waiting reservation with no workers starts one", () => {
    expect(decide([], [{ requestIdx: 1, cost: 100, since: 0 }], recommended, 0).start).toBe(1)
  })

  it("recommended: a third concurrent session gets a third worker", () => {
    const busy = [worker(1, { curLoad: 100 }), worker(2, { curLoad: 100 })]
    expect(decide(busy, [{ requestIdx: 3, cost: 100, since: 0 }], recommended, REPORT_GRACE_MS).start).toBe(1)
    expect(decide(busy, [], recommended, REPORT_GRACE_MS).start).toBe(0)
  })

  it("a reservation routed just after a session ended waits one report's time before it starts a worker (the busy report may be stale)", () => {
    const busy = [worker(1, { curLoad: 100 })]
    const request = { requestIdx: 2, cost: 100, since: 1_000 }
    expect(REPORT_GRACE_MS).toBe(350)
    // Neither the capacity rule nor the queue-time rule (target_queue_time 0) starts one within the grace.
    const within = decide(busy, [request], recommended, 1_000 + REPORT_GRACE_MS - 1)
    expect([within.start, within.neededCapacity]).toEqual([0, 100])
    expect(decide(busy, [request], recommended, 1_000 + REPORT_GRACE_MS)).toMatchObject({ start: 1, neededCapacity: 200 })
    // The worker's report of the end came in: the request goes to it at its next poll, no new worker.
    expect(decide([worker(1)], [request], recommended, 1_000 + REPORT_GRACE_MS).start).toBe(0)
    // Load routed and not yet reported may be over by the worker's next report (it counts what it received): the
    // request waits for it as for a busy report (sdk51 #3), and no longer.
    expect(decide([worker(1, { routedLoad: 100 })], [request], recommended, 1_000 + REPORT_GRACE_MS - 1).start).toBe(0)
    expect(decide([worker(1, { routedLoad: 100 })], [request], recommended, 1_000 + REPORT_GRACE_MS).start).toBe(1)
  })

  it("within the grace, only as many young requests wait as the busy workers' load could take; with no busy worker none wait", () => {
    const young = (requestIdx: number, since: number) => ({ requestIdx, cost: 100, since })
    const burst = [young(3, 20), young(2, 10), young(4, 30)]
    // One busy worker could free one place: the oldest young request waits for it, the other two start workers now.
    expect(pressingRequests(burst, [worker(1, { curLoad: 100 })], 40).map((request) => request.requestIdx)).toEqual([3, 4])
    expect(decide([worker(1, { curLoad: 100 })], burst, recommended, 40).start).toBe(2)
    // A scale-up from zero, or from idle workers only, waits for nothing.
    expect(pressingRequests(burst, [], 40)).toBe(burst)
    expect(pressingRequests(burst, [worker(1)], 40)).toBe(burst)
    // A starting worker's load is not a report that can free a place.
    expect(pressingRequests(burst, [worker(1, { phase: "starting", curLoad: 100 })], 40)).toBe(burst)
    // A request costing more than the busy load counts at once; a smaller one after it may still wait.
    expect(pressingRequests([{ requestIdx: 5, cost: 200, since: 0 }, young(6, 1)], [worker(1, { curLoad: 100 })], 2).map((request) => request.requestIdx)).toEqual([5])
  })

  it("target_util 0.9 keeps a whole extra worker for unit-occupancy workers (min_load 100 → 2 workers)", () => {
    expect(decide([], [], { ...recommended, target_util: 0.9, min_load: 100 }, 0).start).toBe(2)
    expect(decide([], [], { ...recommended, min_load: 100 }, 0).start).toBe(1)
  })

  it("cost 200 on max_perf 100 keeps one extra warm worker per session", () => {
    expect(decide([worker(1, { curLoad: 200 })], [], recommended, 0).start).toBe(1)
  })

  it("never beyond max_workers", () => {
    expect(decide([], [{ requestIdx: 1, cost: 1000, since: 0 }], { ...recommended, max_workers: 3 }, 0).start).toBe(3)
  })

  it("starting workers count as capacity: no double start while one boots", () => {
    expect(decide([worker(1, { phase: "starting", maxPerf: 0 })], [{ requestIdx: 1, cost: 100, since: 0 }], recommended, 0).start).toBe(0)
  })

  it("a request waiting past target_queue_time asks for one more worker", () => {
    const params = { ...recommended, target_queue_time: 10 }
    const busy = [worker(1, { curLoad: 100 })]
    // 100 reported + 0 waiting is covered by one (unroutable, busy) worker; the overdue request still adds one.
    expect(decide(busy, [{ requestIdx: 2, cost: 0, since: 0 }], params, 10_001).start).toBe(1)
    expect(decide(busy, [{ requestIdx: 2, cost: 0, since: 0 }], params, 9_000).start).toBe(0)
  })

  it("an overdue request does not start a worker while an idle one can take it at its next poll", () => {
    expect(decide([worker(1)], [{ requestIdx: 1, cost: 100, since: 0 }], recommended, 5_000).start).toBe(0)
  })

  it("stops idle workers after inactivity_timeout, down to zero with min_load 0", () => {
    const idle = [worker(1, { idleSince: 0 }), worker(2, { idleSince: 30_000 })]
    expect(decide(idle, [], recommended, 59_000).stop).toEqual([])
    expect(decide(idle, [], recommended, 60_000).stop).toEqual([1])
    expect(decide(idle, [], recommended, 90_000).stop).toEqual([1, 2])
  })

  it("keeps cold_workers idle workers, and never stops below min_load", () => {
    const idle = [worker(1), worker(2), worker(3)]
    expect(decide(idle, [], { ...recommended, cold_workers: 2 }, 1e9).stop).toEqual([1])
    expect(decide(idle, [], { ...recommended, min_load: 200 }, 1e9).stop).toEqual([1])
  })

  it("never stops with inactivity_timeout ≤ 0; never stops a busy worker", () => {
    expect(decide([worker(1)], [], { ...recommended, inactivity_timeout: -1 }, 1e9).stop).toEqual([])
    expect(decide([worker(1, { curLoad: 100 })], [], recommended, 1e9).stop).toEqual([])
  })

  it("errored workers are stopped and replaced; at max_workers, once their process is gone (review 49 L1)", () => {
    const waiting = [{ requestIdx: 1, cost: 100, since: 0 }]
    const decision = decide([worker(1, { phase: "errored", curLoad: 100 })], waiting, recommended, 0)
    expect(decision.stop).toEqual([1])
    expect(decision.start).toBe(1)
    // A process that is erroring or stopping still runs (its drain, the launcher's grace): it counts against the cap.
    const capped = { ...recommended, max_workers: 1 }
    expect(decide([worker(1, { phase: "errored" })], waiting, capped, 0)).toMatchObject({ stop: [1], start: 0 })
    expect(decide([worker(1, { phase: "stopping" })], waiting, capped, 1e9)).toMatchObject({ stop: [], start: 0 })
    expect(decide([], waiting, capped, 1e9).start).toBe(1)
  })

  it("a draining worker (ready, reporting max_perf 0) is neither capacity nor demand, is not stopped as idle, and still counts against max_workers", () => {
    const draining = worker(1, { maxPerf: 0, curLoad: 100 })
    // Its session is being served where it is: no worker is started for it.
    expect(decide([draining], [], recommended, 0).start).toBe(0)
    // A waiting request finds no capacity in it: one is started at once.
    expect(decide([draining], [{ requestIdx: 2, cost: 100, since: 0 }], recommended, 0)).toMatchObject({ start: 1, startReason: "capacity" })
    expect(decide([worker(1, { maxPerf: 0 })], [{ requestIdx: 2, cost: 100, since: 0 }], recommended, 0).start).toBe(1)
    // It stops of its own accord: the idle rule leaves it alone.
    expect(decide([worker(1, { maxPerf: 0, idleSince: 0 })], [], recommended, 1e9).stop).toEqual([])
    expect(decide([draining], [{ requestIdx: 2, cost: 100, since: 0 }], { ...recommended, max_workers: 1 }, 0).start).toBe(0)
    // Nor load whose end could free room for a young request: one waiting presses at once (review 63 #7).
    expect(freeableLoad([draining])).toBe(0)
    expect(pressingRequests([{ requestIdx: 2, cost: 100, since: 0 }], [draining], 0)).toHaveLength(1)
  })

  it("display states", () => {
    expect(displayState(worker(1))).toBe("idle")
    expect(displayState(worker(1, { curLoad: 100 }))).toBe("busy")
    expect(displayState(worker(1, { phase: "starting" }))).toBe("starting")
    expect(displayState(worker(1, { maxPerf: 0, curLoad: 100 }))).toBe("draining")
    expect(displayState(worker(1, { phase: "starting", maxPerf: 0 }))).toBe("starting")
  })

  it("the states /get_endpoint_workers/ says are the Vast SDK's: ready ones idle or running, those that serve nothing stopping or error (SDK flow 45 L2)", () => {
    expect(displayStates.map(sdkStatusOf)).toEqual(["starting", "running", "idle", "stopping", "stopping", "error"])
  })
})

describe("idle time", () => {
  it("idleSince is set when the load reads zero, kept while it stays zero, and cleared by load", () => {
    expect(idleSinceAfter(null, 0, 5_000)).toBe(5_000)
    expect(idleSinceAfter(5_000, 0, 9_000)).toBe(5_000)
    expect(idleSinceAfter(5_000, 100, 9_000)).toBeNull()
    expect(idleSinceAfter(null, 100, 9_000)).toBeNull()
  })

  effect.effect("three sessions ending 2 s apart stop their workers one by one: 3 → 2 → 1 → 0", () =>
    Effect.gen(function* () {
      const params = { ...recommended, inactivity_timeout: 2 }
      let workers: ReadonlyArray<WorkerView> = [1, 2, 3].map((id) => worker(id, { curLoad: 100, idleSince: null }))
      /** A load report from worker `id`, applied the way the control plane applies it. */
      const report = (id: number, curLoad: number) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          workers = workers.map((w) => (w.id === id ? { ...w, curLoad, idleSince: idleSinceAfter(w.idleSince, curLoad, now) } : w))
        })
      const counts: Array<number> = [workers.length]
      const stoppedAt = new Map<number, number>()
      const decideOnce = Effect.map(Clock.currentTimeMillis, (now) => {
        const decision = decide(workers, [], params, now)
        assert.strictEqual(decision.start, 0)
        for (const id of decision.stop) stoppedAt.set(id, now)
        workers = workers.filter((w) => !decision.stop.includes(w.id))
        if (counts[counts.length - 1] !== workers.length) counts.push(workers.length)
      })
      // Sessions end at 12, 14 and 16 s. The workers' last reports showing load are their 10 s
      // heartbeats: counting idle time from those would stop each worker the moment its session ends.
      const ends = new Map([[12_000, 1], [14_000, 2], [16_000, 3]])
      for (let t = 0; t <= 25_000; t += 250) {
        if (t === 10_000) for (const id of [1, 2, 3]) yield* report(id, 100)
        const ended = ends.get(t)
        if (ended !== undefined) yield* report(ended, 0)
        yield* decideOnce
        yield* TestClock.adjust("250 millis")
      }
      assert.deepStrictEqual(counts, [3, 2, 1, 0])
      assert.deepStrictEqual([...stoppedAt], [[1, 14_000], [2, 16_000], [3, 18_000]])
    })
  )
})

describe("silentTooLong", () => {
  it("a ready worker is silent too long past three heartbeats (30 s) since its last report; other phases never", () => {
    expect(SILENCE_LIMIT_MS).toBe(3 * 10 * 1000)
    expect(silentTooLong("ready", 1_000, 1_000 + SILENCE_LIMIT_MS)).toBe(false)
    expect(silentTooLong("ready", 1_000, 1_001 + SILENCE_LIMIT_MS)).toBe(true)
    for (const phase of ["starting", "stopping", "errored"] as const) expect(silentTooLong(phase, 0, 10 * SILENCE_LIMIT_MS)).toBe(false)
    expect(silentTooLong("ready", null, 10 * SILENCE_LIMIT_MS)).toBe(false)
  })
})

describe("neverReady", () => {
  it("a worker still starting past 60 s after its launch is never going to be ready; other phases never are", () => {
    expect(START_LIMIT_MS).toBe(60_000)
    expect(neverReady("starting", 1_000, 1_000 + START_LIMIT_MS)).toBe(false)
    expect(neverReady("starting", 1_000, 1_001 + START_LIMIT_MS)).toBe(true)
    for (const phase of ["ready", "stopping", "errored"] as const) expect(neverReady(phase, 0, 10 * START_LIMIT_MS)).toBe(false)
  })
})
