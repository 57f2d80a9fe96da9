/**
 * The live processes of a process group, read from Linux's `/proc` (each `<pid>/stat`): the sidecar runner uses it to
 * find what its command left running in the group (a `&` job, a daemon) once the command itself has ended. Empty where
 * there is no `/proc`. A zombie is left out: it has ended, and only its parent's wait removes it.
 */
import { readdirSync, readFileSync } from "node:fs"

/** The group and state of process `pid`, or null when it is gone (or unreadable). */
const groupAndState = (pid: string): { readonly group: number; readonly state: string } | null => {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    return null
  }
  // `pid (comm) state ppid pgrp …`: the command name may hold spaces and parentheses, so the fields are read after its last `)`.
  const [state = "", , group = ""] = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return { group: Number(group), state }
}

export const groupMembers = (group: number): ReadonlyArray<number> => {
  let entries: ReadonlyArray<string>
  try {
    entries = readdirSync("/proc")
  } catch {
    return []
  }
  const members: Array<number> = []
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const found = groupAndState(entry)
    if (found !== null && found.group === group && found.state !== "Z") members.push(Number(entry))
  }
  return members
}
