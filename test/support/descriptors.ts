import { closeSync, openSync, readdirSync, readlinkSync } from "node:fs"

/** This process's open descriptors that refer to `file` (Linux: `/proc/self/fd`). */
export const descriptorsOf = (file: string): ReadonlyArray<number> =>
  readdirSync("/proc/self/fd")
    .filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === file
      } catch {
        // The descriptor `readdirSync` itself used is gone by now.
        return false
      }
    })
    .map(Number)

/** How many of this process's open descriptors refer to `file`. */
export const descriptorsOn = (file: string): number => descriptorsOf(file).length

/**
 * Make every later write to `file` through this process's one open descriptor on it fail as a full disk does:
 * the descriptor is closed and `/dev/full` opened in its place (POSIX gives the lowest free number, so the same one).
 */
export const fillDiskUnder = (file: string): number => {
  const [fd, ...more] = descriptorsOf(file)
  if (fd === undefined || more.length > 0) throw new Error(`expected one descriptor on ${file}, found ${more.length + (fd === undefined ? 0 : 1)}`)
  closeSync(fd)
  const full = openSync("/dev/full", "w")
  if (full !== fd) {
    closeSync(full)
    throw new Error(`/dev/full opened as ${full}, not ${fd}`)
  }
  return fd
}

/** Undo `fillDiskUnder`: the descriptor `fd` writes to `file` again (appending), as when space comes back. */
export const freeDiskUnder = (fd: number, file: string): void => {
  closeSync(fd)
  const again = openSync(file, "a")
  if (again !== fd) {
    closeSync(again)
    throw new Error(`${file} opened as ${again}, not ${fd}`)
  }
}
