import { statfsSync } from "node:fs"
import { Effect } from "effect"

const GIB = 2 ** 30

/** Used space of the file system holding `path`, in GiB; 0 when it cannot be read (it only feeds a report field). */
export const diskUsedGibAt = (path: string): Effect.Effect<number> =>
  Effect.sync(() => {
    try {
      const stats = statfsSync(path)
      return ((stats.blocks - stats.bfree) * stats.bsize) / GIB
    } catch {
      return 0
    }
  })

/** Used space on `/` in GiB, as the report's `disk_usage` field. */
export const diskUsedGib: Effect.Effect<number> = diskUsedGibAt("/")
