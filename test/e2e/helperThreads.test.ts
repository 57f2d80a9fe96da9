/**
 * A running worker's helper threads (V8's compiler and collector, libuv's pool) run at `HELPER_THREAD_NICE`; its
 * main thread, the one that answers, keeps the priority it was started with. Read from `/proc/PID/task/*\/stat`.
 */
import { readdirSync, readFileSync } from "node:fs"
import { getPriority } from "node:os"
import { describe, expect, it } from "vitest"
import { autoscalerPerTest, startWorkerProcess } from "../support/workerProcess.js"

const autoscaler = autoscalerPerTest()

/** Each thread's nice value, by thread id (field 19 of its stat line, after the command name). */
const niceOfThreads = (pid: number): Map<number, number> =>
  new Map(
    readdirSync(`/proc/${pid}/task`).map((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return [Number(tid), Number(fields[16])] as const
    })
  )

const started = async (extra: Record<string, string>) => {
  const { worker } = await startWorkerProcess(autoscaler(), extra)
  const [, asked, lowered, helpers] = await worker.waitFor(/helper_thread_nice="?(\d+|off)(?: \((\d+) of (\d+) threads\))?/)
  return { pid: worker.child.pid ?? 0, asked, lowered: Number(lowered), helpers: Number(helpers) }
}

describe("helper thread priority", () => {
  it("by default every thread but the main one runs at nice 19, and the start-up line says so", async () => {
    const ours = getPriority()
    const { asked, helpers, lowered, pid } = await started({})
    const nices = niceOfThreads(pid)
    expect(asked).toBe("19")
    expect(helpers).toBeGreaterThan(0)
    expect(lowered).toBe(helpers)
    expect(nices.get(pid)).toBe(ours)
    const others = [...nices].filter(([tid]) => tid !== pid).map(([, nice]) => nice)
    // Threads the worker started after start-up (an HTTP agent's DNS lookups, say) inherit the main thread's.
    expect(others.filter((nice) => nice === 19).length).toBeGreaterThanOrEqual(helpers)
  })

  it("HELPER_THREAD_NICE=0 leaves every thread at the priority the worker was started with", async () => {
    const ours = getPriority()
    const { asked, pid } = await started({ HELPER_THREAD_NICE: "0" })
    expect(asked).toBe("off")
    expect(new Set(niceOfThreads(pid).values())).toEqual(new Set([ours]))
  })
})
