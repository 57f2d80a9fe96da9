import { statfsSync } from "node:fs"
import { Effect } from "effect"

const GIB = 2 ** 30

/** Used space on `/` in GiB; 0 when the file system cannot be read (it only feeds a report field). */
export const diskUsedGib: Effect.Effect<number> = Effect.sync(() => {
  try {
    const stats = statfsSync("/")
    return ((stats.blocks - stats.bfree) * stats.bsize) / GIB
  } catch {
    return 0
  }
})
