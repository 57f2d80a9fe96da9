/**
 * `node dist/sidecar.js <command>`, the local serverless's sidecar runner (real processes): it exits as its command
 * did, and stops its whole process group once its parent is gone, even when the parent died before it looked.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { sessionMembersOutsideGroup, startedAt, startedIfRunning } from "../../src/serverless/groupMembers.js"
import { childEnv, processGroup } from "../support/process.js"
import { until } from "../support/serverless.js"

const sidecarJs = fileURLToPath(new URL("../../dist/sidecar.js", import.meta.url))

/** Groups the tests started: each runner leads its own, as under the launcher. */
const groups: Array<number> = []
const dirs: Array<string> = []
afterEach(() => {
  for (const group of groups.splice(0)) if (processGroup(group).length > 0) process.kill(-group, "SIGKILL")
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** The runner with `command`, leading its own process group; resolves with how it ended. */
const runSidecar = (command: string, env: Record<string, string> = {}) => {
  const child = spawn(process.execPath, [sidecarJs, command], { env: { ...childEnv(), ...env }, stdio: "ignore", detached: true })
  groups.push(child.pid ?? 0)
  const ended = new Promise<string>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? String(code))))
  return { pid: child.pid ?? 0, ended }
}

describe("the sidecar runner (dist/sidecar.js)", () => {
  it("exits as its command did: with its status, or by the signal that ended it", async () => {
    expect(await runSidecar("exit 3").ended).toBe("3")
    expect(await runSidecar("kill -TERM $$").ended).toBe("SIGTERM")
  })

  it("what a command leaves in its group is stopped: SIGTERM once, then SIGKILL after the grace, and the runner exits with the command's status", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sidecar-test-"))
    dirs.push(dir)
    // Each job says it is ready (its trap set) in a file, and counts the SIGTERMs it gets in another.
    const job = (name: string, onTerm: string) => `(trap '${onTerm}' TERM; : > ${dir}/${name}.ready; while :; do sleep 0.1; done)`
    const ready = (name: string) => `while [ ! -e ${dir}/${name}.ready ]; do sleep 0.05; done`
    const terms = (name: string) => (existsSync(join(dir, `${name}.terms`)) ? readFileSync(join(dir, `${name}.terms`), "utf8") : "")
    // Jobs that stop on SIGTERM: stopped at once, not at the grace's end.
    const polite = runSidecar(`${job("polite", `echo T >> ${dir}/polite.terms; exit 0`)} & ${ready("polite")}; sleep 601 & exit 0`)
    const politeStarted = Date.now()
    expect(await polite.ended).toBe("0")
    expect(Date.now() - politeStarted).toBeLessThan(3_000)
    expect(terms("polite")).toBe("T\n")
    // A job that ignores SIGTERM is killed once the grace (5 s) has passed; the status is still the command's. So is one
    // that the launcher's SIGTERM to the group left behind (the shell died of it, the job did not): it is not sent a
    // second SIGTERM (to a program, "hurry"), and is killed before the launcher's own grace ends.
    const stubborn = runSidecar(`(trap '' TERM; : > ${dir}/stubborn.ready; exec sleep 602) & ${ready("stubborn")}; exit 4`)
    const stopped = runSidecar(`${job("stopped", `echo T >> ${dir}/stopped.terms`)}; exit 0`)
    const started = Date.now()
    await until("the job's trap", () => (existsSync(join(dir, "stopped.ready")) ? true : undefined), 5_000)
    process.kill(-stopped.pid, "SIGTERM")
    expect(await stopped.ended).toBe("SIGTERM")
    expect(terms("stopped")).toBe("T\n")
    expect(await stubborn.ended).toBe("4")
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_000)
    // Killed, then reaped by init, which takes up to a second or more here (1.2 s of the 2 s this had, at a load average
    // of 2). Left alive, they would never be gone.
    for (const { pid } of [polite, stubborn, stopped]) await until("the jobs to be gone", () => (processGroup(pid).length === 0 ? true : undefined), 10_000)
    // The suite's bound: the grace alone is 5 s, and the whole took 7.8 s at a load average of 10 (39 % of the 20 s it had).
  }, 60_000)

  // `timeout` leads a group of its own with the job under it, so the group's SIGTERM misses both. Under `sh -c` it ends
  // the shell (timeout's parent) before the runner's handler looks; started from a subshell that is gone at once, it has
  // no parent of the command's from the start (probe 37 L3). The job writes a file once its trap is set, and another for
  // each SIGTERM. Started 0.3 s in, after the runner's first look, and signalled before its next, a second after the first.
  it.each([
    ["forked by the command's shell", (job: string) => `sleep 0.3; timeout 300 ${job}`],
    ["from a subshell already gone", (job: string) => `sleep 0.3; (timeout 300 ${job} &); exec sleep 302`]
  ])("what left the group (timeout, which calls setpgid), %s, gets the group's SIGTERM from the runner, even before the runner's look each second has seen it (probe 36 M3, review 37 M1)", async (_, command) => {
    const dir = mkdtempSync(join(tmpdir(), "sidecar-test-"))
    dirs.push(dir)
    const runner = runSidecar(command(`sh -c 'trap "echo T >> ${dir}/terms; exit 0" TERM; : > ${dir}/ready; while :; do sleep 0.1; done'`))
    await until("the job's trap", () => (existsSync(join(dir, "ready")) ? true : undefined), 5_000)
    const outside = sessionMembersOutsideGroup(runner.pid, runner.pid, 0)
    expect(outside.length).toBeGreaterThanOrEqual(2)
    for (const { pid } of outside) groups.push(pid)
    const signalled = Date.now()
    process.kill(-runner.pid, "SIGTERM")
    // Passed on at once (the runner's SIGKILL would come 4 s later, and write nothing).
    await until("the job's SIGTERM", () => (existsSync(join(dir, "terms")) ? true : undefined), 3_000)
    expect(Date.now() - signalled).toBeLessThan(2_000)
    // At least once: `timeout` passes on the TERM it gets as well, and on a loaded machine the second can come while
    // the job's trap runs, before its exit (a second `T`, seen once in CI).
    expect(readFileSync(join(dir, "terms"), "utf8")).toMatch(/^(T\n)+$/)
    await runner.ended
    // Reaped by init (1.3 s of the 3 s this had, at a load average of 2).
    await until("timeout and its job to be gone", () => (outside.every(({ pid, started }) => startedAt(pid) !== started) ? true : undefined), 10_000)
  }, 20_000)

  it("what left the group and ignores SIGTERM is killed once the grace has passed, and the runner exits with the command's status (review 37)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sidecar-test-"))
    dirs.push(dir)
    // GNU timeout passes its TERM on to the job, which ignores it, and waits for it: both stay until SIGKILL.
    const runner = runSidecar(`timeout 300 sh -c 'trap "" TERM; : > ${dir}/ready; while :; do sleep 0.1; done' & until [ -e ${dir}/ready ]; do sleep 0.05; done; exit 5`)
    const outside = await until("the job outside the group", () => {
      const found = sessionMembersOutsideGroup(runner.pid, runner.pid, 0)
      return existsSync(join(dir, "ready")) && found.length >= 2 ? found : undefined
    }, 5_000)
    for (const { pid } of outside) groups.push(pid)
    const started = Date.now()
    expect(await runner.ended).toBe("5")
    // SIGTERM when the command ended, SIGKILL the grace (5 s) later.
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_000)
    // Killed: ended, if not yet reaped by init.
    expect(outside.filter(({ pid, started }) => startedIfRunning(pid) === started)).toEqual([])
  }, 20_000)

  it("what left the group and survives its SIGTERM gets no second one (the stop signal's handler and the command's end both pass the stop on), then SIGKILL (review 38 L3)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sidecar-test-"))
    dirs.push(dir)
    // The job leaves the group itself (perl's setpgrp; `timeout` would forward a SIGTERM of its own), notes each
    // SIGTERM and stays; the group's SIGTERM ends the command's shell, so the runner sees both the signal and the end.
    const job = `$SIG{TERM} = sub { open(my $f, ">>", "${dir}/terms"); print $f "T\\n"; close($f) }; setpgrp(0, 0); open(my $r, ">", "${dir}/ready"); close($r); select(undef, undef, undef, 0.1) while 1`
    const runner = runSidecar(`sleep 0.3; perl -e '${job}'`)
    const outside = await until("the job outside the group", () => {
      const found = sessionMembersOutsideGroup(runner.pid, runner.pid, 0)
      return existsSync(join(dir, "ready")) && found.length >= 1 ? found : undefined
    }, 5_000)
    for (const { pid } of outside) groups.push(pid)
    process.kill(-runner.pid, "SIGTERM")
    expect(await runner.ended).toBe("SIGTERM")
    await until("the job to be gone", () => (outside.every(({ pid, started }) => startedIfRunning(pid) !== started) ? true : undefined), 8_000)
    expect(readFileSync(join(dir, "terms"), "utf8")).toBe("T\n")
  }, 20_000)

  it("a parent already gone when it starts (killed during its start-up): the whole group is stopped at once", async () => {
    const gone = spawn("true")
    await new Promise((resolve) => gone.once("exit", resolve))
    // The command leaves a process of its own behind, outside the shell's children but in the group.
    const runner = runSidecar("(sleep 600 &); sleep 601", { NULL_PARENT_PID: String(gone.pid) })
    expect(await runner.ended).toBe("SIGKILL")
    // Reaped by init (1.7 s of the 5 s this had, at a load average of 2).
    await until("the group to be gone", () => (processGroup(runner.pid).length === 0 ? true : undefined), 10_000)
  })
})
