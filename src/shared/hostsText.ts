/** The text of a hosts file (`/etc/hosts`), read only if it is a regular file of at most 1 MiB. */
import { readBoundedFile } from "./readBoundedFile.js"

/** The largest hosts file read: a real one is a few KiB. */
export const MAX_HOSTS_BYTES = 1024 * 1024

/**
 * `path`'s text if it is a regular file of at most `MAX_HOSTS_BYTES`; else nothing, its readers then knowing fewer
 * names, never more. Opened without waiting: a FIFO put there froze the worker, and `/dev/zero` filled its memory
 * (probe 58 #4).
 */
export const hostsText = (path: string): string => {
  try {
    const read = readBoundedFile(path, MAX_HOSTS_BYTES)
    return typeof read === "string" ? "" : read.toString("utf8")
  } catch {
    return ""
  }
}
