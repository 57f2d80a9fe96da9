/**
 * The helper threads' priority: every thread but the main one is lowered to the asked nice value, never raised,
 * and a thread or system that refuses changes nothing else.
 */
import { describe, expect, it } from "vitest"
import { describeHelperPriority, lowerHelperThreads, type ThreadTable } from "../../../src/worker/lifecycle/helperThreads.js"

const MAIN = 100

/** A process whose threads have the given nice values; `refuse` lists threads whose priority cannot be set. */
const fakeThreads = (nices: Record<number, number>, refuse: ReadonlyArray<number> = []) => {
  const current = new Map(Object.entries(nices).map(([tid, nice]) => [Number(tid), nice]))
  const calls: Array<readonly [number, number]> = []
  const table: ThreadTable = {
    list: () => [...current.keys()],
    nice: (tid) => {
      const nice = current.get(tid)
      if (nice === undefined) throw new Error(`ESRCH: no thread ${tid}`)
      return nice
    },
    setNice: (tid, nice) => {
      if (refuse.includes(tid)) throw new Error("EACCES")
      calls.push([tid, nice])
      current.set(tid, nice)
    }
  }
  return { table, calls, current }
}

describe("lowerHelperThreads", () => {
  it("lowers every thread but the main one to the asked nice value", () => {
    const { calls, current, table } = fakeThreads({ [MAIN]: 0, 101: 0, 102: 0, 103: 0 })
    expect(lowerHelperThreads(19, table, MAIN)).toEqual({ nice: 19, lowered: 3, helpers: 3 })
    expect(calls).toEqual([[101, 19], [102, 19], [103, 19]])
    expect(current.get(MAIN)).toBe(0)
  })

  it("never raises a priority: a thread already at the value or beyond is left alone", () => {
    const { calls, table } = fakeThreads({ [MAIN]: 5, 101: 10, 102: 19, 103: 3 })
    expect(lowerHelperThreads(10, table, MAIN)).toEqual({ nice: 10, lowered: 3, helpers: 3 })
    expect(calls).toEqual([[103, 10]])
  })

  it("0 leaves every thread as it is", () => {
    const { calls, table } = fakeThreads({ [MAIN]: 0, 101: 0, 102: 0 })
    expect(lowerHelperThreads(0, table, MAIN)).toEqual({ nice: 0, lowered: 0, helpers: 2 })
    expect(calls).toEqual([])
  })

  it("a thread that refuses, or that ended meanwhile, does not stop the others", () => {
    const { calls, table } = fakeThreads({ [MAIN]: 0, 101: 0, 102: 0, 103: 0 }, [102])
    const listed = table.list
    const withGone: ThreadTable = { ...table, list: () => [...(listed() ?? []), 104] }
    expect(lowerHelperThreads(19, withGone, MAIN)).toEqual({ nice: 19, lowered: 2, helpers: 4 })
    expect(calls).toEqual([[101, 19], [103, 19]])
  })

  it("where threads cannot be listed, nothing happens", () => {
    const table: ThreadTable = {
      list: () => null,
      nice: () => {
        throw new Error("not called")
      },
      setNice: () => {
        throw new Error("not called")
      }
    }
    expect(lowerHelperThreads(19, table, MAIN)).toEqual({ nice: 19, lowered: 0, helpers: 0 })
  })

  it("is described for the start-up line", () => {
    expect(describeHelperPriority({ nice: 19, lowered: 9, helpers: 10 })).toBe("19 (9 of 10 threads)")
    expect(describeHelperPriority({ nice: 0, lowered: 0, helpers: 10 })).toBe("off")
  })
})
