/** A process group's live members and their start times, read from /proc, against `ps` (real processes). */
import { spawn } from "node:child_process"
import { afterEach, describe, expect, it } from "vitest"
import { groupMembers, startedAt } from "../../src/serverless/groupMembers.js"
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
})
