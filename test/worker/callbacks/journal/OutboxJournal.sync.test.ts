/**
 * When the journal's lines reach the disk: written at once, fsync'd off the main thread one at a time (a group
 * commit), and synchronously at close. The journal's fsyncs are held here, so that the test decides when they end.
 */
import { fstatSync, fsyncSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, symlinkSync, unlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type JournalDisk, nodeJournalDisk } from "../../../../src/worker/callbacks/journal/journalDisk.js"
import type { JournalledCallback } from "../../../../src/worker/callbacks/journal/journalLine.js"
import { openJournal } from "../../../../src/worker/callbacks/journal/OutboxJournal.js"
import { otherWorkersLock } from "../../../support/processStart.js"
import { fillDiskUnder, freeDiskUnder } from "../../../support/descriptors.js"
import { replay } from "../../../../src/worker/callbacks/journal/replay.js"

/** A disk whose fsyncs are held until the test ends them, with the descriptors they were given. */
const fsyncs = { held: [] as Array<(error: NodeJS.ErrnoException | null) => void>, fds: [] as Array<number>, paths: [] as Array<string>, synchronous: 0 }
const heldDisk: JournalDisk = {
  ...nodeJournalDisk,
  fsync: (fd, done) => {
    fsyncs.fds.push(fd)
    // The file it syncs, read while its descriptor is open.
    fsyncs.paths.push(readlinkSync(`/proc/self/fd/${fd}`))
    fsyncs.held.push(done)
  },
  fsyncSync: (fd) => {
    fsyncs.synchronous++
    fsyncSync(fd)
  }
}

/** A journal on a fresh file over the held disk, with every write failure it reports kept in `failures`. */
const openOnHeldDisk = () =>
  Effect.gen(function* () {
    const file = join(mkdtempSync(join(tmpdir(), "journal-sync-")), "outbox.jsonl")
    const failures: Array<string> = []
    const { journal } = yield* openJournal(file, (reason) => failures.push(reason), undefined, heldDisk)
    return { file, failures, journal }
  })

const callback = (sessionId: string): JournalledCallback => ({
  session_id: sessionId,
  generation: 1,
  route: `http://127.0.0.1:9/${sessionId}`,
  body: "{}",
  reason: "ended"
})

describe("OutboxJournal's fsync", () => {
  it.effect("a line is written before it returns; its fsync runs after, one at a time, one more covering the lines written meanwhile", () =>
    Effect.gen(function* () {
      const { file, failures, journal } = yield* openOnHeldDisk()
      const synchronousAtOpen = fsyncs.synchronous
      journal.pending(callback("a"))
      assert.include(readFileSync(file, "utf8"), '"session_id":"a"')
      assert.lengthOf(fsyncs.held, 1)
      journal.pending(callback("b"))
      journal.done("a")
      // Written, and waiting for the fsync in flight: no second one yet.
      assert.lengthOf(readFileSync(file, "utf8").trim().split("\n"), 3)
      assert.lengthOf(fsyncs.held, 1)
      fsyncs.held[0]!(null)
      assert.lengthOf(fsyncs.held, 2)
      fsyncs.held[1]!(null)
      assert.lengthOf(fsyncs.held, 2)
      // A failed fsync is told as a write failure; the line was written all the same.
      journal.done("b")
      fsyncs.held[2]!(Object.assign(new Error("i/o"), { code: "EIO" }))
      assert.deepStrictEqual(failures, ["EIO"])
      // No request waited for a disk: the main thread's only fsync is at close.
      assert.strictEqual(fsyncs.synchronous, synchronousAtOpen)
      journal.close()
      assert.strictEqual(fsyncs.synchronous, synchronousAtOpen + 1)
    })
  )

  it.effect("a line alone gets one fsync: none follows it when no line came while it ran", () =>
    Effect.gen(function* () {
      const { journal } = yield* openOnHeldDisk()
      const first = fsyncs.held.length
      journal.pending(callback("alone"))
      assert.lengthOf(fsyncs.held, first + 1)
      fsyncs.held[first]!(null)
      assert.lengthOf(fsyncs.held, first + 1)
      journal.close()
    })
  )

  it.effect("a descriptor given up while its fsync runs (the file rewritten) is closed only when that fsync returns, and later lines get one of their own", () =>
    Effect.gen(function* () {
      const { file, failures, journal } = yield* openOnHeldDisk()
      const first = fsyncs.held.length
      journal.pending(callback("a"))
      const old = fsyncs.fds[first]!
      // Deleted under the worker: the next line rewrites the file and appends to a new descriptor.
      unlinkSync(file)
      journal.pending(callback("b"))
      assert.lengthOf(fsyncs.held, first + 1)
      // Still open: its number cannot have gone to anything else while the fsync runs on it.
      assert.isTrue(fstatSync(old).isFile())
      fsyncs.held[first]!(null)
      assert.throws(() => fstatSync(old), /EBADF/)
      assert.lengthOf(fsyncs.held, first + 2)
      assert.notStrictEqual(fsyncs.fds[first + 1], old)
      fsyncs.held[first + 1]!(null)
      assert.deepStrictEqual(failures, [])
      assert.include(readFileSync(file, "utf8"), '"session_id":"b"')
      journal.close()
    })
  )

  it.effect("close with an fsync in flight: no other on the main thread (probe 57 #3: a stuck disk held the stop), the descriptor closed when it returns, and nothing synced after", () =>
    Effect.gen(function* () {
      const { journal } = yield* openOnHeldDisk()
      const first = fsyncs.held.length
      journal.pending(callback("a"))
      journal.done("a")
      const fd = fsyncs.fds[first]!
      const synchronous = fsyncs.synchronous
      journal.close()
      assert.strictEqual(fsyncs.synchronous, synchronous)
      assert.isTrue(fstatSync(fd).isFile())
      fsyncs.held[first]!(null)
      assert.throws(() => fstatSync(fd), /EBADF/)
      assert.lengthOf(fsyncs.held, first + 1)
    })
  )

  it.effect("close with an fsync in flight and lines a full disk refused: the catch-up rewrite is not synced on the main thread either (review 63 #4), and the file is whole", () =>
    Effect.gen(function* () {
      const { file, failures, journal } = yield* openOnHeldDisk()
      const first = fsyncs.held.length
      journal.pending(callback("a"))
      const full = fillDiskUnder(file)
      journal.pending(callback("b"))
      assert.deepStrictEqual(failures, ["ENOSPC"])
      freeDiskUnder(full, file)
      const synchronous = fsyncs.synchronous
      journal.close()
      assert.strictEqual(fsyncs.synchronous, synchronous)
      fsyncs.held[first]!(null)
      assert.deepStrictEqual(replay(file), { left: [callback("a"), callback("b")], skipped: 0 })
    })
  )

  it.effect("close while a rewrite's fsync is out, the journal's own all ended: no fsync on the main thread either (review 65 #4)", () =>
    Effect.gen(function* () {
      const { file, journal } = yield* openOnHeldDisk()
      const ofRewrite = (index: number) => fsyncs.paths[index]?.endsWith(".tmp") === true
      /** Every held fsync of the journal's own file ended; the rewrite's left held. */
      const endOwn = () => {
        for (let index = 0; index < fsyncs.held.length; index++) {
          if (!ended.has(index) && !ofRewrite(index)) {
            ended.add(index)
            fsyncs.held[index]!(null)
          }
        }
      }
      const ended = new Set<number>()
      const rewriting = () => readdirSync(dirname(file)).some((name) => name.endsWith(".tmp"))
      // Delivered lines past 4 MiB: a rewrite starts, written on the thread pool.
      for (let index = 0; !rewriting(); index++) {
        if (index === 1000) throw new Error("no rewrite started")
        journal.pending({ ...callback(`many-${index}`), body: "x".repeat(10_000) })
        journal.done(`many-${index}`)
        endOwn()
      }
      // Turns of the event loop until its writes are done and its fsync is asked for.
      while (!fsyncs.paths.some((_, at) => ofRewrite(at))) yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
      const rewriteSync = fsyncs.paths.findIndex((_, at) => ofRewrite(at))
      endOwn()
      const synchronous = fsyncs.synchronous
      journal.close()
      assert.strictEqual(fsyncs.synchronous, synchronous)
      fsyncs.held[rewriteSync]!(null)
    })
  )

  it.effect("a journal stopped (another worker took its lock) with an fsync in flight: the descriptor is closed when it returns, and nothing is synced after", () =>
    Effect.gen(function* () {
      const { file, failures, journal } = yield* openOnHeldDisk()
      const first = fsyncs.held.length
      journal.pending(callback("a"))
      journal.pending(callback("b"))
      const fd = fsyncs.fds[first]!
      unlinkSync(`${file}.lock`)
      symlinkSync(otherWorkersLock(), `${file}.lock`)
      journal.pending(callback("c"))
      fsyncs.held[first]!(null)
      assert.throws(() => fstatSync(fd), /EBADF/)
      assert.lengthOf(fsyncs.held, first + 1, "no fsync of the line written meanwhile: the descriptor is given up")
      assert.deepStrictEqual(failures, [])
      journal.close()
    })
  )
})
