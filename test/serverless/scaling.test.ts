import { describe, expect, it } from "vitest"
import { decide, displayState, recommended, routeTarget, vastDefaults, type WorkerView } from "../../src/serverless/scaling.js"

const worker = (id: number, overrides: Partial<WorkerView> = {}): WorkerView => ({
  id,
  phase: "ready",
  curLoad: 0,
  maxPerf: 100,
  routedLoad: 0,
  lastBusyAt: 0,
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
    expect(decide(busy, [{ requestIdx: 3, cost: 100, since: 0 }], recommended, 0).start).toBe(1)
    expect(decide(busy, [], recommended, 0).start).toBe(0)
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
    const idle = [worker(1, { lastBusyAt: 0 }), worker(2, { lastBusyAt: 30_000 })]
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

  it("errored workers are stopped and replaced", () => {
    const decision = decide([worker(1, { phase: "errored", curLoad: 100 })], [{ requestIdx: 1, cost: 100, since: 0 }], recommended, 0)
    expect(decision.stop).toEqual([1])
    expect(decision.start).toBe(1)
  })

  it("display states", () => {
    expect(displayState(worker(1))).toBe("idle")
    expect(displayState(worker(1, { curLoad: 100 }))).toBe("busy")
    expect(displayState(worker(1, { phase: "starting" }))).toBe("starting")
  })
})
