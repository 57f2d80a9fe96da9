/** Where the journal is: which paths can be one, and the file a configured path leads to. */
import { accessSync, constants, lstatSync, readlinkSync, realpathSync, statfsSync, statSync } from "node:fs"
import { basename, dirname, join, resolve } from "node:path"
import { errnoOf } from "../../../shared/errno.js"
import { kindOf, ownOutputOf, statOrUndefined } from "../../../shared/fileStats.js"

/**
 * Kernel file systems whose "regular files" are interfaces: root may open one for writing (`access` says yes), and the
 * write fails or changes a kernel setting (a pid written to `cgroup.procs` moves that process); nothing is kept for a
 * supervisor or a restart to read back. (statfs magic numbers, from Linux's magic.h.)
 */
const PSEUDO_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, "procfs"],
  [0x62656572, "sysfs"],
  [0x63677270, "cgroup2"],
  [0x27e0eb, "cgroup"],
  [0x64626720, "debugfs"],
  [0x74726163, "tracefs"],
  [0x73636673, "securityfs"],
  [0x62656570, "configfs"],
  [0xde5e81e4, "efivarfs"],
  [0xcafe4a11, "bpf"],
  [0x6165676c, "pstore"]
])

/**
 * Why `file` cannot be the journal, or null: it must be a regular file (a FIFO would block the start, a device never
 * ends) that can be read and written, or not exist yet, in a directory that exists and can be written (the lock, the
 * rewrite's temporary file and its rename all go there). Checked when the configuration is read, so that a mistake
 * is a launch failure naming `OUTBOX_FILE`. `fileSystemOf`: the file system's magic number (tests give those this
 * machine does not mount).
 */
export const journalPathProblem = (configured: string, fileSystemOf: (file: string) => number = (file) => statfsSync(file).type): string | null => {
  const file = followLinks(configured)
  // Still a link after as many as the kernel follows: a loop, or a chain whose last link a rewrite would replace with
  // a file (probe 56 #7: at 17 links, the 17th became the journal and the file it led to was left stale).
  if (isLink(file)) return `${configured} is a chain of more than ${MAX_LINKS_FOLLOWED} symbolic links, or a loop`
  try {
    const stats = statSync(file)
    if (!stats.isFile()) return `${file} is ${kindOf(stats)}, not a regular file`
    const pseudo = PSEUDO_FILESYSTEMS.get(fileSystemOf(file))
    if (pseudo !== undefined) return `${file} is on ${pseudo}, where what is written is not kept as a file's contents`
    accessSync(file, constants.R_OK | constants.W_OK)
  } catch (error) {
    const code = errnoOf(error)
    if (code !== "ENOENT") return `${file} cannot be used (${code ?? String(error)})`
  }
  // What the kernel opens there too: a link into `/proc/self/fd` (`/dev/stdout`) reads as `pipe:[N]`, which
  // `followLinks` takes for a file not made yet.
  const opened = statOrUndefined(configured)
  if (opened !== undefined && !opened.isFile()) return `${configured} is ${kindOf(opened)}, not a regular file`
  const output = opened === undefined ? null : ownOutputOf(opened)
  if (output !== null) return `${configured} is this process's ${output}, which it would write over`
  // The directory exists, or is missing (a parent that is a file failed above: ENOTDIR).
  const directory = dirname(file)
  try {
    accessSync(directory, constants.W_OK)
    return null
  } catch (error) {
    const code = errnoOf(error)
    return code === "ENOENT" ? `its directory ${directory} does not exist` : `its directory ${directory} cannot be written (${code ?? String(error)})`
  }
}

/**
 * The journal's lock is taken by name (`<file>.lock`): a worker given another name of the same file (a hard link) would
 * take its own lock, replay what this one is delivering and send it again. Checked when the journal opens, after the
 * settings (which report a marker that is the journal under another name as the clash it is).
 */
export const otherNamesProblem = (file: string): string | null => {
  const links = statSync(file, { throwIfNoEntry: false })?.nlink ?? 1
  return links > 1 ? `${file} has ${links} names (hard links); its lock is taken by name, so a worker on another name would send its callbacks again` : null
}

/** `file` in its directory's real path (links on the way followed); as it is if that cannot be known. */
export const inRealDirectory = (file: string): string => {
  try {
    return join(realpathSync(dirname(file)), basename(file))
  } catch {
    return file
  }
}

const isLink = (path: string): boolean => {
  try {
    return lstatSync(path).isSymbolicLink()
  } catch {
    return false
  }
}

/** As many links as Linux follows in one path (its MAXSYMLINKS): a longer chain fails there with ELOOP. */
const MAX_LINKS_FOLLOWED = 40

/** The file a chain of symbolic links ends at, whether or not it exists yet (a journal not written so far). */
export const followLinks = (file: string): string => {
  let current = file
  for (let hop = 0; hop < MAX_LINKS_FOLLOWED; hop++) {
    try {
      if (!lstatSync(current).isSymbolicLink()) return current
    } catch {
      return current
    }
    // A relative link is read from its directory as the kernel reaches it: a `..` after a linked directory leads to
    // that directory's parent, not to the link's (review 60: `current/outbox.jsonl` → `../../shared/…` had led elsewhere).
    current = resolve(dirname(inRealDirectory(current)), readlinkSync(current))
  }
  return current
}
