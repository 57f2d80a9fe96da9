/** A process group's live members and their start times, read from /proc, against `ps` (real processes). */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { afterEach, describe, expect, it } from "vitest"
import { descendantsOutsideGroup, descendantsOutsideGroupNow, groupMembers, startedAt, startedIfRunning } from "../../src/serverless/groupMembers.js"
import { processGroup } from "../support/process.js"
import { until } from "../support/serverless.js"

const groups: Array<number> = []
afterEach(() => {
  for (const group of groups.splice(0)) if (processGroup(group).length > 0) process.kill(-group, "SIGKILL")
})

describe("groupMembers", () => {
  it("finds every process of a group, wherever its parent is, with a start no earlier than its leader's; none once they are gone", async () => {
    // A leader that becomes a `sleep`, with a job of its own and one whose parent exits at once (now init's).
    const leader = spawn("sh", ["-c", "(sleep 30 &); sleep 31 & exec sleep 32"], { stdio: "ignore", detached: true })
    const group = leader.pid ?? 0
    groups.push(group)
    const members = await until("three members", () => {
      const found = groupMembers(group)
      return found.length === 3 ? found : undefined
    }, 5_000)
    expect(members.map((member) => member.pid).sort()).toEqual([...processGroup(group)].sort())
    const leaderStart = startedAt(group) ?? Number.NaN
    expect(leaderStart).toBeGreaterThan(startedAt(process.pid) ?? Number.NaN)
    for (const member of members) expect(member.started).toBeGreaterThanOrEqual(leaderStart)
    expect(groupMembers(process.pid).map((member) => member.pid)).not.toContain(group)
    process.kill(-group, "SIGKILL")
    await until("the group to be gone", () => (groupMembers(group).length === 0 ? true : undefined), 5_000)
    // The leader is this process's child: a zombie, still in /proc, until Node has reaped it (its `exit`).
    if (leader.exitCode === null && leader.signalCode === null) await new Promise((resolve) => leader.once("exit", resolve))
    expect(startedAt(group)).toBeNull()
  })

  it("the descendants that left a group, read through the children lists, are the ones the whole of /proc gives (review 49 L2)", async () => {
    // A child and a grandchild that left the group (`setsid`), one orphan (init's now: neither reads it), and a child in it.
    const leader = spawn("sh", ["-c", "setsid sleep 30 & (sleep 31 &); sh -c 'setsid sleep 34 & exec sleep 33' & exec sleep 32"], { stdio: "ignore", detached: true })
    const group = leader.pid ?? 0
    groups.push(group)
    try {
      const found = await until("two descendants outside the group", () => {
        const now = descendantsOutsideGroupNow(group, group)
        return now.length === 2 ? now : undefined
      }, 5_000)
      const byPid = (members: ReadonlyArray<{ readonly pid: number }>) => [...members].sort((a, b) => a.pid - b.pid)
      expect(byPid(found)).toEqual(byPid(descendantsOutsideGroup(group, group)))
      for (const { pid, started } of found) expect(started).toBe(startedAt(pid))
    } finally {
      for (const { pid } of descendantsOutsideGroup(group, group)) process.kill(pid, "SIGKILL")
    }
  })

  it("startedIfRunning: a zombie is not running: an outsider that has ended but not been reaped (init may take a second) holds no stop back", async () => {
    // `sh` forks a short sleep, then becomes a long one, which never reaps the first: a zombie once it ends.
    const parent = spawn("sh", ["-c", "sleep 0.1 & echo $!; exec sleep 5"], { stdio: ["ignore", "pipe", "ignore"] })
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString()))))
      expect(startedIfRunning(pid)).toBe(startedAt(pid))
      await until("the short sleep to end", () => (readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1]?.startsWith("Z") ? true : undefined), 3_000)
      expect([startedAt(pid) !== null, startedIfRunning(pid)]).toEqual([true, null])
    } finally {
      parent.kill("SIGKILL")
    }
  })
})
