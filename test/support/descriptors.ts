import { readdirSync, readlinkSync } from "node:fs"

/** How many of this process's open descriptors refer to `file` (Linux: `/proc/self/fd`). */
export const descriptorsOn = (file: string): number =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file
    } catch {
      // The descriptor `readdirSync` itself used is gone by now.
      return false
    }
  }).length
