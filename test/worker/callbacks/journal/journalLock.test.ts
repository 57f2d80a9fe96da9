/**
 * The journal's lock read against what `/proc` says, and when it does not say (another kernel, a holder gone between
 * two reads): a directory standing for `/proc` gives each answer. The lock's life with the journal is in
 * OutboxJournal.test.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { LockHeld, releaseLock, takeLock } from "../../../../src/worker/callbacks/journal/journalLock.js"
import { otherWorkersLock } from "../../../support/processStart.js"

const journalIn = () => join(mkdtempSync(join(tmpdir(), "journal-lock-")), "outbox.jsonl")

/** A boot time (s) that puts any start after a lock written now: a process that started later is not its holder. */
const FUTURE_BOOT = "4000000000"

/**
 * A directory read as `/proc`: `stat` holds `system` (none when undefined), and the live parent's `<pid>/stat` has
 * `ticks` as its start (none when undefined).
 */
const fakeProc = (system: string | undefined, ticks: string | undefined) => {
  const proc = mkdtempSync(join(tmpdir(), "proc-"))
  if (system !== undefined) writeFileSync(join(proc, "stat"), system)
  if (ticks !== undefined) {
    mkdirSync(join(proc, String(process.ppid)))
    // Fields 3 to 22 after the command's name: the state, 18 more, then the start in ticks.
    writeFileSync(join(proc, String(process.ppid), "stat"), `${process.ppid} (a (name)) ${["S", ...Array<string>(18).fill("0"), ticks].join(" ")} 0 0\n`)
  }
  return proc
}

/** Whether a lock of an older version (the live parent's pid alone, written now) is held, as `proc` tells it. */
const olderLockHeld = (proc: string): boolean => {
  const file = journalIn()
  writeFileSync(`${file}.lock`, `${process.ppid}\n`)
  try {
    releaseLock(takeLock(file, () => undefined, proc))
    return false
  } catch (error) {
    if (error instanceof LockHeld) return true
    throw error
  }
}

describe("journalLock", () => {
  it("a lock without a start time is its live pid's when that process started before it was written, not after", () => {
    assert.isTrue(olderLockHeld(fakeProc("cpu 1 2 3\nbtime 1000000000\nprocesses 5\n", "100")))
    assert.isFalse(olderLockHeld(fakeProc(`cpu 1 2 3\nbtime ${FUTURE_BOOT}\nprocesses 5\n`, "100")))
  })

  it("where the start cannot be known the lock is held (a live worker's journal must not be taken): no boot time, a line only like it, no process entry, a start that is no number, no /proc/stat", () => {
    const unknown = {
      "no btime line": fakeProc("cpu 1 2 3\n", "100"),
      "a boot time with more after it": fakeProc(`btime ${FUTURE_BOOT}x\n`, "100"),
      "another key ending in btime": fakeProc(`notbtime ${FUTURE_BOOT}\n`, "100"),
      "no entry for the pid": fakeProc(`btime ${FUTURE_BOOT}\n`, undefined),
      "a start that is no number": fakeProc(`btime ${FUTURE_BOOT}\n`, "abc"),
      "no /proc/stat": fakeProc(undefined, "100")
    }
    for (const [what, proc] of Object.entries(unknown)) assert.isTrue(olderLockHeld(proc), what)
  })

  it("a lock whose holder runs is refused before anything moves: another worker's turn between the read and the move never comes", () => {
    const file = journalIn()
    symlinkSync(otherWorkersLock(), `${file}.lock`)
    let turns = 0
    const refused = (() => {
      try {
        takeLock(file, () => void turns++)
        return null
      } catch (error) {
        return error
      }
    })()
    assert.instanceOf(refused, LockHeld)
    assert.strictEqual((refused as LockHeld)._tag, "LockHeld")
    assert.strictEqual(turns, 0)
    assert.strictEqual(readlinkSync(`${file}.lock`), otherWorkersLock())
    assert.isFalse(existsSync(`${file}.lock.${process.pid}.stale`))
  })
})
