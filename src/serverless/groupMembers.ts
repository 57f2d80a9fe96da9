/**
 * The live processes of a process group, with when each started, read from Linux's `/proc` (each `<pid>/stat`): the
 * sidecar runner uses it to find what its command left running in the group (a `&` job) once the command itself has
 * ended. Empty where there is no `/proc` (the runner then stops nothing more). A zombie is left out: it has ended, and
 * only its parent's wait removes it.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"

export interface GroupMember {
  readonly pid: number
  /** When it started, in clock ticks since boot (`stat`'s 22nd field): a pid reused later has a later start. */
  readonly started: number
}

/** The fields of `/proc/<pid>/stat` after the command name, or null when the process is gone (or unreadable). */
const statFields = (pid: number | string): ReadonlyArray<string> | null => {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    return null
  }
  // `pid (comm) state ppid pgrp …`: the command name may hold spaces and parentheses, so the fields are read after its last `)`.
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
}

// Indices into `statFields`: the state is the 3rd field of the line, the parent the 4th, the group the 5th, the
// session the 6th, the start time the 22nd.
const STATE = 0
const PARENT = 1
const GROUP = 2
const SESSION = 3
const STARTED = 19

/** When process `pid` started (clock ticks since boot), or null when it is gone or there is no `/proc`. */
export const startedAt = (pid: number): number | null => {
  const fields = statFields(pid)
  return fields === null ? null : Number(fields[STARTED])
}

/**
 * When process `pid` started, or null when it has ended: gone, or a zombie whose parent has not reaped it yet (init may
 * take a while to, for one whose parent ended first).
 */
export const startedIfRunning = (pid: number): number | null => {
  const fields = statFields(pid)
  return fields === null || fields[STATE] === "Z" ? null : Number(fields[STARTED])
}

/** Every live process's stat fields, by pid; empty where there is no `/proc`. */
const liveProcesses = (): ReadonlyArray<readonly [number, ReadonlyArray<string>]> => {
  let entries: ReadonlyArray<string>
  try {
    entries = readdirSync("/proc")
  } catch {
    return []
  }
  const live: Array<readonly [number, ReadonlyArray<string>]> = []
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const fields = statFields(entry)
    if (fields !== null && fields[STATE] !== "Z") live.push([Number(entry), fields])
  }
  return live
}

export const groupMembers = (group: number): ReadonlyArray<GroupMember> =>
  liveProcesses().flatMap(([pid, fields]) => (Number(fields[GROUP]) === group ? [{ pid, started: Number(fields[STARTED]) }] : []))

/** Whether process `pid` leads its session (it called `setsid`, as a process the launcher starts does). */
export const leadsSession = (pid: number): boolean => statFields(pid)?.[SESSION] === String(pid)

/**
 * The live members of session `session` outside group `group` that started at `since` or later. In a session its
 * leader made (the launcher's `setsid`), those are descendants that left the group (`setpgid`) even once their parent
 * has ended; a `setsid` daemon has left the session too.
 */
export const sessionMembersOutsideGroup = (session: number, group: number, since: number, live = liveProcesses()): ReadonlyArray<GroupMember> =>
  live.flatMap(([pid, fields]) =>
    Number(fields[SESSION]) === session && Number(fields[GROUP]) !== group && Number(fields[STARTED]) >= since ? [{ pid, started: Number(fields[STARTED]) }] : []
  )

/**
 * The live descendants of `root` that have left its group (`timeout`, which calls `setpgid` unless `--foreground`; a
 * `setsid` daemon): a signal to the group misses them. Found through their parents, so only while those live: one whose
 * parent has ended is init's child.
 */
export const descendantsOutsideGroup = (root: number, group: number, live = liveProcesses()): ReadonlyArray<GroupMember> => {
  const children = new Map<number, Array<readonly [number, ReadonlyArray<string>]>>()
  for (const process of live) {
    const parent = Number(process[1][PARENT])
    const siblings = children.get(parent)
    if (siblings === undefined) children.set(parent, [process])
    else siblings.push(process)
  }
  const found: Array<GroupMember> = []
  const visit = [root]
  for (let next = visit.pop(); next !== undefined; next = visit.pop()) {
    for (const [pid, fields] of children.get(next) ?? []) {
      visit.push(pid)
      if (Number(fields[GROUP]) !== group) found.push({ pid, started: Number(fields[STARTED]) })
    }
  }
  return found
}

/**
 * What left the group `root` leads: its descendants outside it and, with `since` (`root` leads its session), the
 * session's members outside it that started at `since` or later. One read of `/proc` for both.
 */
export const outsidersOf = (root: number, since: number | null): ReadonlyArray<GroupMember> => {
  const live = liveProcesses()
  const found = descendantsOutsideGroup(root, root, live)
  return since === null ? found : [...found, ...sessionMembersOutsideGroup(root, root, since, live)]
}

/**
 * Whether this kernel lists each thread's children (`/proc/<pid>/task/<tid>/children`, Linux 3.5 with
 * `CONFIG_PROC_CHILDREN`, as Debian's and Ubuntu's have): a process's descendants can then be read without reading every
 * process on the machine.
 */
const CHILDREN_LISTED = existsSync(`/proc/${process.pid}/task/${process.pid}/children`)

/** The children `pid`'s threads started (empty when it is gone). */
const childrenOf = (pid: number): ReadonlyArray<number> => {
  let tasks: ReadonlyArray<string>
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return []
  }
  const children: Array<number> = []
  for (const task of tasks) {
    let listed: string
    try {
      listed = readFileSync(`/proc/${pid}/task/${task}/children`, "latin1")
    } catch {
      continue
    }
    for (const child of listed.split(" ")) if (child !== "") children.push(Number(child))
  }
  return children
}

/**
 * `descendantsOutsideGroup` for a watch that runs every second for a command's whole life: read through the children
 * lists, from `root` down, so that it costs what the command's own processes cost and not what every process on the
 * machine does (review 49 L2: 58 µs a process, each second, in each sidecar runner). Where the kernel lists no
 * children, the whole of `/proc` as before.
 */
export const descendantsOutsideGroupNow = (root: number, group: number): ReadonlyArray<GroupMember> => {
  if (!CHILDREN_LISTED) return descendantsOutsideGroup(root, group)
  const found: Array<GroupMember> = []
  const visit = [...childrenOf(root)]
  for (let next = visit.pop(); next !== undefined; next = visit.pop()) {
    const fields = statFields(next)
    if (fields === null || fields[STATE] === "Z") continue
    if (Number(fields[GROUP]) !== group) found.push({ pid: next, started: Number(fields[STARTED]) })
    visit.push(...childrenOf(next))
  }
  return found
}
