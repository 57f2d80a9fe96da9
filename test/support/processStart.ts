import { readFileSync } from "node:fs"

/** When `pid` started, as `/proc/<pid>/stat` says (field 22): what a journal's lock records beside the pid. */
export const startTimeOf = (pid: number): string => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? ""
}

/** The lock target a live process other than this one (the parent, standing for another worker) would write. */
export const otherWorkersLock = (): string => `${process.ppid}:${startTimeOf(process.ppid)}`
