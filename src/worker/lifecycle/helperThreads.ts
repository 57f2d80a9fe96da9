/**
 * The thread that answers requests comes first. V8 optimizes hot functions and collects garbage on helper threads,
 * and libuv runs file and DNS work on its pool; on a small instance, with a consumer beside the worker, these
 * compete with the main thread for the same cores. Linux keeps the nice value per thread, so the helper threads
 * can run at a lower priority (`HELPER_THREAD_NICE`, default 19): they still get every idle moment, and a smaller
 * share of a busy core. (A running helper still keeps its turn when the main thread wakes.) Measured with `ab.mjs`:
 * create → end p99 3.56 → 2.48 ms and `end` 0.955 → 1.08 of the floor (medians of 6 alternating runs). Linux's idle
 * class (`SCHED_IDLE`) would give up the turn too, but the main thread waits for its helpers at points of a garbage
 * collection, and on an instance whose cores are busy that stalled it for up to 2 s: not used (docs/performance.md).
 *
 * Threads that exist when this runs are lowered (all but the main one); threads started later inherit the
 * priority of the thread that starts them, the main thread's. A priority is only ever lowered: a thread already
 * at the target or beyond is left alone, and a system that refuses (no `/proc`, a sandbox) costs nothing.
 */
import { readdirSync } from "node:fs"
import { getPriority, setPriority } from "node:os"

/** The process's threads and their priorities (Linux: `/proc/self/task` and per-thread `setpriority`). */
export interface ThreadTable {
  /** Thread ids of this process, or `null` where they cannot be listed. */
  readonly list: () => ReadonlyArray<number> | null
  readonly nice: (tid: number) => number
  readonly setNice: (tid: number, nice: number) => void
}

export const processThreads: ThreadTable = {
  list: () => {
    try {
      return readdirSync("/proc/self/task").map(Number).filter(Number.isSafeInteger)
    } catch {
      return null
    }
  },
  nice: (tid) => getPriority(tid),
  setNice: (tid, nice) => setPriority(tid, nice)
}

export interface HelperPriority {
  /** The nice value asked for; 0 leaves every thread as it is. */
  readonly nice: number
  /** Helper threads now at `nice` or lower in priority, of all the helper threads found. */
  readonly lowered: number
  readonly helpers: number
}

/** Lower every thread but `mainThread` to `nice` (0: do nothing). */
export const lowerHelperThreads = (nice: number, table: ThreadTable = processThreads, mainThread: number = process.pid): HelperPriority => {
  const helpers = (table.list() ?? []).filter((tid) => tid !== mainThread)
  if (nice <= 0) return { nice, lowered: 0, helpers: helpers.length }
  let lowered = 0
  for (const tid of helpers) {
    try {
      if (table.nice(tid) < nice) table.setNice(tid, nice)
      lowered++
    } catch {
      // The thread ended meanwhile, or the system does not allow it: that thread keeps its priority.
    }
  }
  return { nice, lowered, helpers: helpers.length }
}

/** For the start-up line: `19 (10 of 10 threads)`, or `off`. */
export const describeHelperPriority = (priority: HelperPriority): string =>
  priority.nice <= 0 ? "off" : `${priority.nice} (${priority.lowered} of ${priority.helpers} threads)`
