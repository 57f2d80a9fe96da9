/**
 * How large V8 lets its young generation grow. V8 doubles the young generation (its two semi-spaces) each time as
 * many bytes as it holds have survived collections since it last grew, up to 32 MiB in Node 20. A worker closing
 * sessions back to back reaches 16 MiB within its first second of them and 32 MiB after about 10,000: that last
 * step is up to 16 MiB more resident memory for little, since a scavenge costs what survives it, not the space's
 * size (docs/performance.md, "Twenty-sixth session").
 *
 * V8 takes its limit only on the command line, which `node dist/main.js` does not have; but it reads its growth
 * factor each time it grows the space. So after each collection the factor is set to 1 (no growth) while the
 * young generation is at `YOUNG_GENERATION_MB` or above, and back to V8's 2 when it is below (V8 shrinks it when
 * allocation stops): growth stops at the first size at or above the cap. A semi-space size or growth factor
 * given to Node by the operator (command line or `NODE_OPTIONS`) is theirs: then nothing is changed.
 */
import { PerformanceObserver } from "node:perf_hooks"
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8"
import { Effect, type Scope } from "effect"

/** V8's own growth factor (`--semi-space-growth-factor`). */
export const V8_GROWTH_FACTOR = 2

/** What the cap needs from V8. */
export interface YoungGenerationHeap {
  /** Bytes the young generation takes now (both semi-spaces). */
  readonly youngBytes: () => number
  readonly setGrowthFactor: (factor: number) => void
  /** Call `listener` after garbage collections; the result stops it. */
  readonly afterCollections: (listener: () => void) => () => void
  /** The V8 options the operator gave Node (command line, then `NODE_OPTIONS`). */
  readonly operatorOptions: () => string
}

export const v8Heap: YoungGenerationHeap = {
  youngBytes: () => getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.space_size ?? 0,
  setGrowthFactor: (factor) => setFlagsFromString(`--semi-space-growth-factor=${factor}`),
  afterCollections: (listener) => {
    const observer = new PerformanceObserver(listener)
    observer.observe({ entryTypes: ["gc"] })
    return () => observer.disconnect()
  },
  operatorOptions: () => `${process.execArgv.join(" ")} ${process.env["NODE_OPTIONS"] ?? ""}`
}

/** The growth factor for a young generation of `youngBytes` under a cap of `capBytes`. */
export const growthFactorFor = (youngBytes: number, capBytes: number): number => (youngBytes >= capBytes ? 1 : V8_GROWTH_FACTOR)

/** The operator sized the young generation themselves (`--max-semi-space-size`, `--semi_space_growth_factor`, …). */
const sizedByOperator = (options: string): boolean => /--[a-z_-]*semi[-_]space/.test(options)

export type YoungGenerationCap =
  | { readonly _tag: "Capped"; readonly megabytes: number }
  | { readonly _tag: "Off" }
  | { readonly _tag: "Operator" }

/** For the start-up line: `16 MiB`, `off`, or `as Node was told`. */
export const describeYoungGenerationCap = (cap: YoungGenerationCap): string =>
  cap._tag === "Capped" ? `${cap.megabytes} MiB` : cap._tag === "Off" ? "off" : "as Node was told"

/**
 * Hold the young generation at `megabytes` (0: V8's own growth) for as long as the scope is open; closing it
 * gives V8 back its own factor.
 */
export const capYoungGeneration = (megabytes: number, heap: YoungGenerationHeap = v8Heap): Effect.Effect<YoungGenerationCap, never, Scope.Scope> => {
  if (megabytes === 0) return Effect.succeed({ _tag: "Off" })
  if (sizedByOperator(heap.operatorOptions())) return Effect.succeed({ _tag: "Operator" })
  const capBytes = megabytes * 1024 * 1024
  return Effect.acquireRelease(
    Effect.sync(() => {
      // Only a change is passed on: each setting of a V8 flag recomputes V8's flag hash.
      let factor = V8_GROWTH_FACTOR
      const follow = () => {
        const next = growthFactorFor(heap.youngBytes(), capBytes)
        if (next === factor) return
        factor = next
        heap.setGrowthFactor(next)
      }
      follow()
      const stop = heap.afterCollections(follow)
      return () => {
        stop()
        if (factor !== V8_GROWTH_FACTOR) heap.setGrowthFactor(V8_GROWTH_FACTOR)
      }
    }),
    (release) => Effect.sync(release)
  ).pipe(Effect.as({ _tag: "Capped", megabytes } as const))
}
