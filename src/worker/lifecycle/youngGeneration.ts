/**
 * How large V8 lets its young generation grow. V8 doubles the young generation (its two semi-spaces) each time more
 * bytes than one semi-space holds have survived scavenges since it last grew, up to a maximum it derives from the heap
 * limit (32 MiB on a machine with a few GB of memory). The worker's young generation is at 16 MiB once it has started;
 * under back-to-back sessions it took the step to 32 MiB near the 10,000th, for up to 16 MiB more resident memory and
 * no speed this worker measured: a scavenge costs what survives it, not the space's size (docs/performance.md,
 * "Twenty-sixth session").
 *
 * V8 takes its limit only on the command line, which `node dist/main.js` does not have; but it reads its growth factor
 * each time it grows the space. So after collections the factor is set to 1 (no growth) when a doubling would pass
 * `YOUNG_GENERATION_MB`, and back to V8's 2 otherwise (V8 shrinks the space when allocation stops): the young
 * generation grows to the largest doubling within the cap. Seen by a `gc` observer, which Node calls an event-loop turn
 * or two after the collection: a burst that survives a whole semi-space within one turn can still grow it once. A cap
 * below the size the space already has holds from V8's next shrink on. A semi-space size or growth factor given to Node
 * by the operator (command line or `NODE_OPTIONS`) is theirs: then nothing is changed.
 *
 * V8 stamps a code cache with its flags: the factor is V8's own whenever a cache is made or used (the boot compiles the
 * bundle before this runs; the build makes its cache with the cap off, scripts/build.mjs). Node does not promise that a
 * V8 flag changed at run time takes effect; this one is an integer V8 reads on the main thread as it grows the space,
 * and youngGeneration.v8.test.ts checks that it does on the Node the tests run on.
 */
import { PerformanceObserver } from "node:perf_hooks"
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8"
import { Effect, type Scope } from "effect"

/** V8's own growth factor (`--semi-space-growth-factor`). */
export const V8_GROWTH_FACTOR = 2

const MiB = 1024 * 1024

/** What the cap needs from V8. */
export interface YoungGenerationHeap {
  /** Bytes the young generation takes now (both semi-spaces); 0 when V8 reports no such space. */
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

/** The growth factor for a young generation of `youngBytes` under a cap of `capBytes`: 1 when a doubling would pass it. */
export const growthFactorFor = (youngBytes: number, capBytes: number): number =>
  youngBytes * V8_GROWTH_FACTOR > capBytes ? 1 : V8_GROWTH_FACTOR

/**
 * The operator sized the young generation themselves (`--max-semi-space-size`, `--semi_space_growth_factor`, …), also
 * in double quotes in `NODE_OPTIONS` (`"--max-semi-space-size=64"`), which Node reads. Node's parser knows no single
 * quotes: `'--max-semi-space-size=64'` reaches V8 with its quote, which V8 ignores, so it sizes nothing.
 */
const sizedByOperator = (options: string): boolean => /(?:^|[\s"])--[a-z_-]*semi[-_]space/.test(options)

export type YoungGenerationCap =
  | { readonly _tag: "Capped"; readonly megabytes: number }
  | { readonly _tag: "Off" }
  | { readonly _tag: "Operator" }
  | { readonly _tag: "Unavailable" }

/**
 * For the start-up line: `at most 16 MiB (16 MiB now)`, `at most 4 MiB (8 MiB now; held from V8's next shrink)`, `off`,
 * `as Node was told`, or `unavailable`.
 */
export const describeYoungGenerationCap = (cap: YoungGenerationCap, youngBytes: number): string => {
  switch (cap._tag) {
    case "Capped": {
      const now = `${Math.round((youngBytes / MiB) * 10) / 10} MiB now`
      // Start-up may have grown it past a small cap already: V8 only gives space back when allocation pauses.
      return youngBytes > cap.megabytes * MiB ? `at most ${cap.megabytes} MiB (${now}; held from V8's next shrink)` : `at most ${cap.megabytes} MiB (${now})`
    }
    case "Off":
      return "off"
    case "Operator":
      return "as Node was told"
    case "Unavailable":
      return "unavailable (V8 reports no young generation)"
  }
}

/**
 * Hold the young generation within `megabytes` (0: V8's own growth) for as long as the scope is open; closing it
 * gives V8 back its own factor.
 */
export const capYoungGeneration = (megabytes: number, heap: YoungGenerationHeap = v8Heap): Effect.Effect<YoungGenerationCap, never, Scope.Scope> =>
  Effect.suspend((): Effect.Effect<YoungGenerationCap, never, Scope.Scope> => {
    if (megabytes === 0) return Effect.succeed({ _tag: "Off" })
    if (sizedByOperator(heap.operatorOptions())) return Effect.succeed({ _tag: "Operator" })
    if (heap.youngBytes() === 0) return Effect.succeed({ _tag: "Unavailable" })
    return Effect.as(holdWithin(megabytes * MiB, heap), { _tag: "Capped", megabytes })
  })

/** Follow the young generation's size after collections, setting the factor that keeps it within `capBytes`. */
const holdWithin = (capBytes: number, heap: YoungGenerationHeap): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      // Only a change is passed on: V8 parses the flag's text and recomputes its flag hash each time.
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
  ).pipe(Effect.asVoid)
