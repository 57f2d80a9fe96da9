/**
 * The young generation's cap: after collections V8's growth factor is 1 when a doubling would pass the cap and V8's
 * own 2 otherwise, set only when it changes; off at 0, untouched when the operator sized it or V8 reports no young
 * generation, and given back when the scope closes. (That V8 obeys: youngGeneration.v8.test.ts beside this file.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import {
  capYoungGeneration,
  describeYoungGenerationCap,
  growthFactorFor,
  V8_GROWTH_FACTOR,
  type YoungGenerationHeap
} from "../../../src/worker/lifecycle/youngGeneration.js"

const MiB = 1024 * 1024

/** A heap whose young generation is `young` bytes; `collect()` runs the listeners as a collection would. */
const fakeHeap = (young: number, options = "") => {
  const state = { young, factors: [] as Array<number>, listeners: new Set<() => void>() }
  const heap: YoungGenerationHeap = {
    youngBytes: () => state.young,
    setGrowthFactor: (factor) => void state.factors.push(factor),
    afterCollections: (listener) => {
      state.listeners.add(listener)
      return () => void state.listeners.delete(listener)
    },
    operatorOptions: () => options
  }
  const collect = (youngAfter: number) => {
    state.young = youngAfter
    for (const listener of state.listeners) listener()
  }
  return { heap, state, collect }
}

describe("growthFactorFor", () => {
  it("is 1 once a doubling would pass the cap, V8's 2 while it would not", () => {
    expect(growthFactorFor(8 * MiB, 16 * MiB)).toBe(V8_GROWTH_FACTOR)
    expect(growthFactorFor(8 * MiB + 1, 16 * MiB)).toBe(1)
    expect(growthFactorFor(16 * MiB, 16 * MiB)).toBe(1)
    // A cap between two doublings holds the young generation at the lower one.
    expect(growthFactorFor(8 * MiB, 24 * MiB)).toBe(V8_GROWTH_FACTOR)
    expect(growthFactorFor(16 * MiB, 24 * MiB)).toBe(1)
    expect(growthFactorFor(32 * MiB, 16 * MiB)).toBe(1)
    expect(V8_GROWTH_FACTOR).toBe(2)
  })
})

describe("capYoungGeneration", () => {
  it.effect("while a doubling fits nothing is set; reaching the cap stops growth once; V8 shrinking it lets it grow again", () =>
    Effect.gen(function* () {
      const { collect, heap, state } = fakeHeap(2 * MiB)
      const scope = yield* Scope.make()
      const cap = yield* capYoungGeneration(16, heap).pipe(Scope.extend(scope))
      expect(cap).toEqual({ _tag: "Capped", megabytes: 16 })
      expect(state.factors).toEqual([])
      collect(8 * MiB)
      expect(state.factors).toEqual([])
      collect(16 * MiB)
      expect(state.factors).toEqual([1])
      collect(16 * MiB)
      expect(state.factors).toEqual([1])
      collect(4 * MiB)
      expect(state.factors).toEqual([1, 2])
      collect(16 * MiB)
      expect(state.factors).toEqual([1, 2, 1])
      yield* Scope.close(scope, Exit.void)
      // Closed at the cap: V8 gets its own factor back, and later collections change nothing.
      expect(state.factors).toEqual([1, 2, 1, 2])
      expect(state.listeners.size).toBe(0)
      collect(2 * MiB)
      collect(32 * MiB)
      expect(state.factors).toEqual([1, 2, 1, 2])
    }))

  it.effect("a young generation already at or past the cap stops growing at once; closed where it may grow, nothing is set", () =>
    Effect.gen(function* () {
      const { collect, heap, state } = fakeHeap(32 * MiB)
      const scope = yield* Scope.make()
      yield* capYoungGeneration(16, heap).pipe(Scope.extend(scope))
      expect(state.factors).toEqual([1])
      collect(8 * MiB)
      expect(state.factors).toEqual([1, 2])
      yield* Scope.close(scope, Exit.void)
      expect(state.factors).toEqual([1, 2])
      expect(state.listeners.size).toBe(0)
    }))

  it.effect("V8 is asked when the effect runs, not when it is made", () =>
    Effect.gen(function* () {
      const { heap, state } = fakeHeap(0)
      const capping = capYoungGeneration(16, heap)
      state.young = 32 * MiB
      expect(yield* Effect.scoped(capping)).toEqual({ _tag: "Capped", megabytes: 16 })
      expect(state.factors).toEqual([1, 2])
    }))

  /** A cap that leaves V8's own growth: it says which, and nothing is watched or set, even past the cap. */
  const leftToV8 = (megabytes: number, options: string, tag: "Off" | "Operator") =>
    Effect.gen(function* () {
      const { collect, heap, state } = fakeHeap(32 * MiB, options)
      const cap = yield* Effect.scoped(capYoungGeneration(megabytes, heap))
      expect(cap).toEqual({ _tag: tag })
      collect(64 * MiB)
      expect(state.factors).toEqual([])
      expect(state.listeners.size).toBe(0)
    })

  it.effect("0 leaves V8's own growth: nothing watched, nothing set", () => leftToV8(0, "", "Off"))

  it.effect.each([
    "--max-semi-space-size=64",
    "--max_semi_space_size=64",
    "--semi-space-growth-factor=4",
    "--min-semi-space-size=8",
    " --max-old-space-size=512 --semi_space_growth_factor=3",
    // In double quotes in NODE_OPTIONS, which Node reads.
    '"--max-semi-space-size=64"',
    '--max-old-space-size=512 "--semi-space-growth-factor=3"'
  ])("a semi-space option the operator gave Node (%s) is theirs: nothing watched, nothing set", (options) => leftToV8(16, options, "Operator"))

  it.effect.each([
    "--max-old-space-size=512 --stack-size=2000",
    "--require=/opt/hooks/--semi-space.js",
    // Node's NODE_OPTIONS parser knows no single quotes: V8 gets the option with its quote and ignores it.
    "'--max-semi-space-size=64'"
  ])(
    "other options of the operator's (%s) do not turn it off",
    (options) =>
      Effect.gen(function* () {
        const { heap, state } = fakeHeap(32 * MiB, options)
        const cap = yield* Effect.scoped(capYoungGeneration(16, heap))
        expect(cap).toEqual({ _tag: "Capped", megabytes: 16 })
        expect(state.factors).toEqual([1, 2])
      })
  )

  it.effect("a V8 that reports no young generation: nothing watched, nothing set, and the start-up line says so", () =>
    Effect.gen(function* () {
      const { heap, state } = fakeHeap(0)
      const cap = yield* Effect.scoped(capYoungGeneration(16, heap))
      expect(cap).toEqual({ _tag: "Unavailable" })
      expect(state.factors).toEqual([])
      expect(state.listeners.size).toBe(0)
    }))
})

describe("describeYoungGenerationCap", () => {
  it("says the cap and the size now, off, that Node was told, or that V8 reports none", () => {
    expect(describeYoungGenerationCap({ _tag: "Capped", megabytes: 16 }, 16 * MiB)).toBe("at most 16 MiB (16 MiB now)")
    expect(describeYoungGenerationCap({ _tag: "Capped", megabytes: 4 }, 16 * MiB)).toBe("at most 4 MiB (16 MiB now; held from V8's next shrink)")
    expect(describeYoungGenerationCap({ _tag: "Capped", megabytes: 24 }, 1.5 * MiB)).toBe("at most 24 MiB (1.5 MiB now)")
    expect(describeYoungGenerationCap({ _tag: "Off" }, MiB)).toBe("off")
    expect(describeYoungGenerationCap({ _tag: "Operator" }, MiB)).toBe("as Node was told")
    expect(describeYoungGenerationCap({ _tag: "Unavailable" }, 0)).toBe("unavailable (V8 reports no young generation)")
  })
})
