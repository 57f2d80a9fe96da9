import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { alive, processTree, type Spawned, spawnProcess } from "../support/process.js"

const demoJs = fileURLToPath(new URL("../../dist/demo.js", import.meta.url))
const running: Array<Spawned> = []
/** Every process a demo started (its children lead their own process groups: a demo's kill would not reach them). */
const descendants = new Set<number>()

afterEach(async () => {
  for (const demo of running.splice(0)) {
    if (demo.child.exitCode === null) demo.child.kill("SIGTERM")
    await demo.exited
  }
  for (const pid of descendants) if (alive(pid)) process.kill(pid, "SIGKILL")
  descendants.clear()
})

describe("npm run demo (dist/demo.js)", () => {
  it("scales 0 → 3 and steps down 3 → 2 → 1 → 0 as the sessions end one by one; every callback arrives; it exits 0", async () => {
    const demo = spawnProcess(
      process.execPath,
      [demoJs, "--count", "3", "--interval", "1", "--plateau", "0.5", "--inactivity-timeout", "0.5"],
      {}
    )
    running.push(demo)
    expect(await demo.exited, demo.output()).toBe(0)
    const output = demo.output()
    // The worker count each time it changed, as the demo printed it (a line comes at each change of a worker's state,
    // newcomer 35 #6: repeats dropped).
    const counts = [...output.matchAll(/\] workers: (\d+)/g)].map((match) => Number(match[1])).filter((count, index, all) => index === 0 || count !== all[index - 1])
    const peak = counts.indexOf(3)
    expect(peak, output).toBeGreaterThan(0)
    // Each worker stops inactivity_timeout after its own session ended, not all at once.
    expect(counts.slice(peak), output).toEqual([3, 2, 1, 0])
    expect(output.match(/on_close callback: .*"close_reason":"ended"/g)).toHaveLength(3)
    // The client's lines on the demo's clock, not on their own wall-clock stamps.
    const clientLines = output.split("\n").filter((line) => line.includes(" client | "))
    expect(clientLines.length, output).toBeGreaterThan(5)
    expect(clientLines.filter((line) => !/^\[ *\d+\.\d s\] client \| \S/.test(line) || /\d{4}-\d\d-\d\dT\d\d:/.test(line))).toEqual([])
    expect(output).toContain("peak workers: 3; callbacks: 3; workers left: 0")
    expect(output).toContain("demo OK")
    // The wait for the scale-down is said when it begins; the default --timeout leaves room, so no note.
    expect(output).toMatch(/\n\[ *\d+\.\d s\] waiting up to 15\.5 s \(--inactivity-timeout \+ 15\) for the endpoint to scale back to zero\n/)
    expect(output).not.toContain("note: --timeout")
  }, 90_000)

  it("--vast-defaults: the endpoint keeps Vast's own settings, no inactivity timeout included (-1, never), unless one is given", async () => {
    for (const [extra, inactivity, said] of [
      [[], -1, "(no inactivity_timeout, cold_workers 5 keeps up to 5 idle ones, none started in advance"],
      [["--inactivity-timeout", "7"], 7, "(cold_workers 5 keeps up to 5 idle ones, none started in advance"]
    ] as const) {
      const demo = spawnProcess(process.execPath, [demoJs, "--vast-defaults", "--count", "1", "--interval", "0.2", "--plateau", "2", ...extra], {})
      running.push(demo)
      const [, url] = await demo.waitFor(/local serverless on (http:\/\/[0-9.:]+)/, 30_000)
      const status = (await (await fetch(`${url}/status`)).json()) as { endpoint: { inactivity_timeout: number; cold_workers: number } }
      expect(status.endpoint.inactivity_timeout).toBe(inactivity)
      expect(status.endpoint.cold_workers).toBe(5)
      expect(await demo.exited, demo.output()).toBe(0)
      expect(demo.output()).toContain(`every callback arrived once; with Vast's defaults the workers stay ${said}`)
    }
  }, 90_000)

  it("a session its consumer releases during the plateau (POST /release on the worker) is no failure: every callback arrives, it exits 0", async () => {
    const demo = spawnProcess(process.execPath, [demoJs, "--count", "1", "--plateau", "6", "--inactivity-timeout", "0.5"], {})
    running.push(demo)
    await demo.waitFor(/client \| .*#1 created session/, 30_000)
    const serverless = /local serverless on (http:\/\/\S+)/.exec(demo.output())?.[1] ?? ""
    const status = (await (await fetch(`${serverless}/status`)).json()) as { workers: ReadonlyArray<{ control_url: string }> }
    const controlUrl = status.workers[0]?.control_url ?? ""
    expect((await fetch(`${controlUrl}/release`, { method: "POST" })).status).toBe(200)
    expect(await demo.exited, demo.output()).toBe(0)
    const output = demo.output()
    expect(output.match(/on_close callback: .*"close_reason":"released"/g), output).toHaveLength(1)
    expect(output).toContain("demo OK: 1 session created and closed (0 ended by the client, 1 released by a consumer)")
  }, 90_000)

  for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    it(`${signal} to the demo's pid alone: the client ends its sessions, the serverless stops its workers, exit ${status}, no process left`, async () => {
      const demo = spawnProcess(process.execPath, [demoJs, "--count", "2", "--interval", "0.5", "--plateau", "60"], {})
      running.push(demo)
      // Both sessions, in either order: the two reservations route side by side, and the second may take the first worker.
      await demo.waitFor(/client \| .*#1 created session/, 30_000)
      await demo.waitFor(/client \| .*#2 created session/, 30_000)
      const pid = demo.child.pid ?? 0
      const tree = processTree(pid)
      for (const child of tree) descendants.add(child)
      // The serverless, the client and a worker per session.
      expect(tree.length, demo.output()).toBeGreaterThanOrEqual(4)
      demo.child.kill(signal)
      expect(await demo.exited, demo.output()).toBe(status)
      const output = demo.output()
      expect(output.match(/client \| .*#\d ended session/g), output).toHaveLength(2)
      expect(output).toContain("interrupted: stopped the client (exit 143)")
      expect(output).toContain("interrupted: stopped the serverless (exit 0)")
      expect(tree.filter(alive), output).toEqual([])
    }, 60_000)
  }

  it("a serverless that exits before it listens: the demo fails at once, with the serverless' exit and its last lines", async () => {
    // The demo beside a stand-in serverless.js that says why it cannot start and exits 3.
    const dir = mkdtempSync(join(tmpdir(), "demo-serverless-"))
    try {
      // The boot and the bundle it loads.
      copyFileSync(demoJs, join(dir, "demo.js"))
      copyFileSync(demoJs.replace(/\.js$/, ".bundle.js"), join(dir, "demo.bundle.js"))
      writeFileSync(join(dir, "serverless.js"), 'console.log("cannot start: no key")\nconsole.error("second line")\nprocess.exit(3)\n')
      const demo = spawnProcess(process.execPath, [join(dir, "demo.js")], {})
      running.push(demo)
      expect(await demo.exited, demo.output()).toBe(1)
      expect(demo.output()).toBe("demo FAILED: the serverless exited (3) before it listened; its last lines: cannot start: no key | second line\n")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("--count past the 100 callbacks the serverless keeps is refused before anything starts; an --interval past half the longest lifetime still runs (review 43 L3)", async () => {
    const refused = spawnProcess(process.execPath, [demoJs, "--count", "101"], {})
    running.push(refused)
    expect(await refused.exited).toBe(1)
    expect(refused.output()).toContain("--count must be a whole number from 1 to 100")
    // One session: the interval between starts never passes; the client's lifetime is held to the worker's limit.
    const demo = spawnProcess(process.execPath, [demoJs, "--count", "1", "--interval", "400000", "--plateau", "0.5", "--inactivity-timeout", "0.5"], {})
    running.push(demo)
    expect(await demo.exited, demo.output()).toBe(0)
    expect(demo.output()).toContain("demo OK: 1 session created and ended")
  }, 90_000)

  it("a --timeout not above the scale-down's own wait (--inactivity-timeout + 15 s) is refused before anything starts, exit 1", async () => {
    for (const [flags, given, waited, remedy] of [
      [["--inactivity-timeout", "60", "--timeout", "30"], "--inactivity-timeout", 75, "give a longer --timeout or a shorter --inactivity-timeout"],
      [["--timeout", "17"], "--inactivity-timeout's default 2", 17, "give a longer --timeout or a shorter --inactivity-timeout"],
      // No --inactivity-timeout helps a --timeout under the slack: only the --timeout is named (newcomer 39 #5).
      [["--inactivity-timeout", "0.1", "--timeout", "5"], "--inactivity-timeout", 15.1, "give a --timeout above 15 s at the least"]
    ] as const) {
      const demo = spawnProcess(process.execPath, [demoJs, ...flags], {})
      running.push(demo)
      expect(await demo.exited, demo.output()).toBe(1)
      expect(demo.output()).toBe(`--timeout ${flags.at(-1)} is not above the wait for the scale-down alone (${given} + 15 = ${waited} s): ${remedy}\n`)
    }
    // Above the sessions' own time but not past the scale-down's wait after them: taken, with a note that it may run out.
    const tight = spawnProcess(process.execPath, [demoJs, "--count", "1", "--plateau", "1", "--timeout", "18"], {})
    running.push(tight)
    await tight.waitFor("\n", 15_000)
    tight.child.kill("SIGINT")
    await tight.exited
    expect(tight.output().split("\n")[0]).toBe("note: --timeout 18 s may run out: the sessions take 1 s at the least (--count, --interval, --plateau) and the scale-down up to 17 s after them")
  })

  it("read through | head: once its reader has gone, it stops everything in order, says so on stderr, exits 141, no process left", async () => {
    const demo = spawnProcess(process.execPath, [demoJs, "--count", "2", "--interval", "0.5", "--plateau", "60"], {})
    running.push(demo)
    await demo.waitFor(/client \| .*#1 created session/, 30_000)
    const tree = processTree(demo.child.pid ?? 0)
    for (const child of tree) descendants.add(child)
    // Its next line (the second session's) fails with EPIPE.
    demo.child.stdout?.destroy()
    expect(await demo.exited, demo.output()).toBe(141)
    expect(demo.output()).toContain("demo: its output was closed; everything it started has stopped\n")
    expect(demo.output()).not.toContain("EPIPE")
    expect(tree.filter(alive), demo.output()).toEqual([])
  }, 60_000)

  it("--timeout: stops the client and the serverless as an interruption does, says it timed out, exits 1, no process left", async () => {
    // 20 s: both sessions are made long before (a worker's start and the client's poll back-off, up to 5 s, under a
    // busy CI), and the 60 s plateau is far after.
    const demo = spawnProcess(process.execPath, [demoJs, "--count", "2", "--interval", "0.5", "--plateau", "60", "--timeout", "20"], {})
    running.push(demo)
    await demo.waitFor(/client \| .*#1 created session/, 30_000)
    await demo.waitFor(/client \| .*#2 created session/, 30_000)
    const tree = processTree(demo.child.pid ?? 0)
    for (const child of tree) descendants.add(child)
    expect(await demo.exited, demo.output()).toBe(1)
    const output = demo.output()
    expect(output.match(/client \| .*#\d ended session/g), output).toHaveLength(2)
    expect(output).toContain("timed out: stopped the client (exit 143)")
    expect(output).toContain("timed out: stopped the serverless (exit 0)")
    expect(output).toContain("demo FAILED: the demo timed out (the client holding its sessions (2 of 2 created))")
    // Said at the start: the sessions alone take longer than the --timeout given.
    expect(output.split("\n")[0]).toBe(
      "note: --timeout 20 s runs out before the sessions end (they take 61 s at the least: --count, --interval, --plateau): the demo will end by its timeout, and fail"
    )
    // The client was stopped by a signal and says so in its own lines; the demo's lines say why it stopped it.
    expect(output).not.toMatch(/^interrupted: stopped/m)
    expect(tree.filter(alive), output).toEqual([])
  }, 60_000)
})
