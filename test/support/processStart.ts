import { readFileSync } from "node:fs"

/** When `pid` started, as `/proc/<pid>/stat` says (field 22): what a journal's lock records beside the pid. */
export const startTimeOf = (pid: number): string => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? ""
}

/** When `pid` started, in ms since the epoch, as the journal's lock reckons it: the boot time (`btime`) plus its start ticks. */
export const startedAtMsOf = (pid: number): number => {
  const boot = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]
  return Number(boot) * 1000 + Number(startTimeOf(pid)) * 10
}

/** The lock target a live process other than this one (the parent, standing for another worker) would write. */
export const otherWorkersLock = (): string => `${process.ppid}:${startTimeOf(process.ppid)}`
