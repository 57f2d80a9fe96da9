/**
 * The journal's rewrite on its own: at start on the main thread (`rewrite`), and while the worker runs a slice at a
 * time on the thread pool (`prepareRewrite`), with every disk call held by the test until it hands it on. How the
 * journal uses them is in OutboxJournal.test.ts.
 */
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { type JournalDisk, nodeJournalDisk, writeWhole } from "../../../../src/worker/callbacks/journal/journalDisk.js"
import { type JournalledCallback, pendingLine } from "../../../../src/worker/callbacks/journal/journalLine.js"
import { prepareRewrite, removeStaleRewrites, rewrite, type RewriteEnds } from "../../../../src/worker/callbacks/journal/rewrite.js"
import { descriptorsOn } from "../../../support/descriptors.js"

const journalIn = () => join(mkdtempSync(join(tmpdir(), "rewrite-")), "outbox.jsonl")

const callback = (sessionId: string, body = JSON.stringify({ session_id: sessionId })): JournalledCallback => ({
  session_id: sessionId,
  generation: 1,
  route: `http://127.0.0.1:9/${sessionId}`,
  body,
  reason: "ended"
})

/** The rewrites' temporary files beside `file`. */
const temporaryFiles = (file: string) => readdirSync(dirname(file)).filter((name) => name.endsWith(".tmp"))

const enospc = () => Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" })

describe("rewrite, at start", () => {
  it("returns the new file's size, the pending lines in their order", () => {
    const file = journalIn()
    writeFileSync(file, "old\n")
    const live = [callback("a"), callback("b", "x".repeat(5_000))]
    const bytes = rewrite(file, live, nodeJournalDisk)
    assert.strictEqual(readFileSync(file, "utf8"), live.map(pendingLine).join(""))
    assert.strictEqual(bytes, statSync(file).size)
  })

  it("synced before it is put in place, through the disk; not when told an fsync of the journal is out (review 63 #4)", () => {
    const file = journalIn()
    const synced: Array<string> = []
    const disk: JournalDisk = {
      ...nodeJournalDisk,
      fsyncSync: (fd) => void synced.push(existsSync(file) ? "after the rename" : "before the rename"),
      rename: (from, to) => (synced.push("renamed"), nodeJournalDisk.rename(from, to))
    }
    rewrite(file, [callback("a")], disk)
    assert.deepStrictEqual(synced, ["before the rename", "renamed"])
    rewrite(file, [callback("a")], disk, false)
    assert.deepStrictEqual(synced, ["before the rename", "renamed", "renamed"])
    assert.strictEqual(readFileSync(file, "utf8"), pendingLine(callback("a")))
  })

  it("a file another process made at the temporary name (the make failed) is not ours: kept; the journal as it was", () => {
    const file = journalIn()
    writeFileSync(file, "old\n")
    let theirs = ""
    const disk: JournalDisk = {
      ...nodeJournalDisk,
      createFresh: (path) => {
        theirs = path
        writeFileSync(path, "theirs")
        throw Object.assign(new Error("EEXIST: file already exists"), { code: "EEXIST" })
      }
    }
    assert.throws(() => rewrite(file, [callback("a")], disk), /EEXIST/)
    assert.strictEqual(readFileSync(theirs, "utf8"), "theirs")
    assert.strictEqual(readFileSync(file, "utf8"), "old\n")
  })

  it("a temporary file it made whose writes fail (a full disk) is removed; the journal as it was", () => {
    const file = journalIn()
    writeFileSync(file, "old\n")
    const disk: JournalDisk = {
      ...nodeJournalDisk,
      createFresh: (path) => {
        closeSync(nodeJournalDisk.createFresh(path))
        return openSync("/dev/full", "w")
      }
    }
    assert.throws(() => rewrite(file, [callback("a")], disk), /ENOSPC/)
    assert.deepStrictEqual(temporaryFiles(file), [])
    assert.strictEqual(readFileSync(file, "utf8"), "old\n")
  })

  it("a stale temporary name that is a link or a directory is not a rewrite's file: left as it is, and what the link leads to", () => {
    const file = journalIn()
    const target = join(dirname(file), "target")
    writeFileSync(target, "kept")
    symlinkSync(target, `${file}.0123456789abcdef.tmp`)
    mkdirSync(`${file}.fedcba9876543210.tmp`)
    writeFileSync(`${file}.00000000000000ff.tmp`, "{}\n")
    removeStaleRewrites(file)
    assert.isTrue(lstatSync(`${file}.0123456789abcdef.tmp`).isSymbolicLink())
    assert.isTrue(lstatSync(`${file}.fedcba9876543210.tmp`).isDirectory())
    assert.isFalse(existsSync(`${file}.00000000000000ff.tmp`))
    assert.strictEqual(readFileSync(target, "utf8"), "kept")
  })
})

describe("writeWhole", () => {
  /** A disk whose writes take at most `most` bytes each (a nearly full disk takes part of a write). */
  const takingAtMost = (most: number, calls: Array<number>): JournalDisk => ({
    ...nodeJournalDisk,
    write: (fd, data, done) => {
      calls.push(data.length)
      const taken = writeSync(fd, data, 0, Math.min(most, data.length))
      done(null, taken)
    }
  })

  it("a write that takes part of the data is followed by one for the rest, until all of it is written", () => {
    const file = journalIn()
    const fd = openSync(file, "w")
    const calls: Array<number> = []
    let ended: Array<unknown> = []
    writeWhole(takingAtMost(4, calls), fd, Buffer.from("0123456789"), (error) => void (ended = [error]))
    closeSync(fd)
    assert.deepStrictEqual(ended, [null])
    assert.deepStrictEqual(calls, [10, 6, 2])
    assert.strictEqual(readFileSync(file, "utf8"), "0123456789")
  })

  it("a write that takes nothing fails as an I/O error (it would otherwise be tried for ever)", () => {
    const fd = openSync(journalIn(), "w")
    const ended: Array<NodeJS.ErrnoException | null> = []
    writeWhole(takingAtMost(0, []), fd, Buffer.from("line\n"), (error) => void ended.push(error))
    closeSync(fd)
    assert.lengthOf(ended, 1)
    assert.strictEqual(ended[0]?.code, "EIO")
    assert.strictEqual(ended[0]?.message, "the disk took none of a rewrite's bytes")
  })

  it("a write's error is the end, whatever it says it took", () => {
    const ended: Array<NodeJS.ErrnoException | null> = []
    const disk: JournalDisk = { ...nodeJournalDisk, write: (_fd, data, done) => done(enospc(), data.length) }
    writeWhole(disk, -1, Buffer.from("line\n"), (error) => void ended.push(error))
    assert.deepStrictEqual(ended.map((error) => error?.code), ["ENOSPC"])
  })
})

describe("prepareRewrite, while the worker runs", () => {
  /**
   * The node disk with every write and fsync of a rewrite held until the test hands it on (`next`), so each step is
   * seen; `writes` and `syncs` count the calls made.
   */
  const heldDisk = (base: Partial<JournalDisk> = {}) => {
    const held: Array<() => void> = []
    const counts = { writes: [] as Array<number>, syncs: 0 }
    const disk: JournalDisk = {
      ...nodeJournalDisk,
      write: (fd, data, done) => {
        counts.writes.push(data.length)
        // Written when handed on, and its end then, in that turn: what the thread pool does, in an order the test sets.
        held.push(() => done(null, writeSync(fd, data)))
      },
      fsync: (fd, done) => {
        counts.syncs++
        held.push(() => done(null))
      },
      ...base
    }
    /** Hand on the oldest call held: it ends at once. */
    const next = () => {
      const call = held.shift()
      if (call === undefined) throw new Error("no disk call held")
      call()
    }
    return { disk, held, counts, next }
  }

  /** How a rewrite ended, recorded. */
  const recordedEnds = (superseded = () => false) => {
    const ended: Array<string> = []
    const ends: RewriteEnds = {
      superseded,
      placed: (bytes) => void ended.push(`placed ${bytes}`),
      failed: (error) => void ended.push(`failed ${(error as NodeJS.ErrnoException).code ?? String(error)}`),
      dropped: () => void ended.push("dropped")
    }
    return { ended, ends }
  }

  /** Every held call handed on until the rewrite ends. */
  const runToEnd = (job: { readonly underWay: () => boolean }, next: () => void) => {
    for (let step = 0; job.underWay(); step++) {
      if (step === 100) throw new Error("the rewrite did not end")
      next()
    }
  }

  const line = (id: string, chars: number) => pendingLine(callback(id, "x".repeat(chars)))

  it("placed with the size of the file put in place, the lines journalled meanwhile at its end", () => {
    const file = journalIn()
    writeFileSync(file, "old\n")
    const { disk, next } = heldDisk()
    const { ended, ends } = recordedEnds()
    const job = prepareRewrite(file, [callback("a")], disk, ends)
    job.begin()
    job.add(line("b", 10))
    next()
    job.add(line("c", 10))
    runToEnd(job, next)
    assert.deepStrictEqual(ended, [`placed ${statSync(file).size}`])
    assert.strictEqual(readFileSync(file, "utf8"), pendingLine(callback("a")) + line("b", 10) + line("c", 10))
    assert.deepStrictEqual(temporaryFiles(file), [])
  })

  it("the lines journalled meanwhile go to the thread pool a slice at a time while more than a line and a slice of them wait; the add says how many bytes it still holds", () => {
    const file = journalIn()
    const { disk, counts, next } = heldDisk()
    const { ended, ends } = recordedEnds()
    const job = prepareRewrite(file, [callback("a")], disk, ends)
    job.begin()
    const hundredK = (id: string) => line(id, 100 * 1024)
    const lineBytes = Buffer.byteLength(hundredK("t0"))
    for (let index = 0; index < 4; index++) job.add(hundredK(`t${index}`))
    // Past the snapshot: 3 lines (a slice of 256 Ki chars) go, 1 stays held for the end.
    next()
    assert.deepStrictEqual(counts.writes.slice(1), [3 * lineBytes])
    assert.strictEqual(job.add(hundredK("t4")), 2 * lineBytes)
    // Two lines held, 200 Ki chars, under a slice: written in the turn that puts the file in place.
    runToEnd(job, next)
    assert.lengthOf(counts.writes, 2)
    assert.deepStrictEqual(ended, [`placed ${statSync(file).size}`])
    assert.strictEqual(readFileSync(file, "utf8"), pendingLine(callback("a")) + [0, 1, 2, 3, 4].map((index) => hundredK(`t${index}`)).join(""))
  })

  it("one line journalled meanwhile, however long, is written with the rename, not handed to the pool alone", () => {
    const file = journalIn()
    const { disk, counts, next } = heldDisk()
    const { ended, ends } = recordedEnds()
    const job = prepareRewrite(file, [callback("a")], disk, ends)
    job.begin()
    job.add(line("big", 300 * 1024))
    runToEnd(job, next)
    assert.lengthOf(counts.writes, 1)
    assert.deepStrictEqual(ended, [`placed ${statSync(file).size}`])
  })

  it("synced at most 3 times before it is put in place, however many lines come during each sync", () => {
    const file = journalIn()
    const { disk, counts, held, next } = heldDisk()
    const { ended, ends } = recordedEnds()
    const job = prepareRewrite(file, [callback("a")], disk, ends)
    job.begin()
    const added: Array<string> = []
    let syncsSeen = 0
    for (let step = 0; job.underWay(); step++) {
      if (step === 100) throw new Error("the rewrite did not end")
      // During each sync, more than a slice: written before the next sync, which then has more to cover.
      if (counts.syncs > syncsSeen) {
        syncsSeen = counts.syncs
        for (const id of [`s${step}a`, `s${step}b`]) {
          added.push(line(id, 150 * 1024))
          job.add(added.at(-1) ?? "")
        }
      }
      next()
    }
    assert.strictEqual(counts.syncs, 3)
    assert.deepStrictEqual([ended.length, held.length], [1, 0])
    assert.strictEqual(readFileSync(file, "utf8"), pendingLine(callback("a")) + added.join(""))
  })

  it("while a sync is out it is on the disk: given up then, it says so until that sync returns", () => {
    const file = journalIn()
    const { disk, counts, next } = heldDisk()
    const { ended, ends } = recordedEnds()
    const job = prepareRewrite(file, [callback("a")], disk, ends)
    job.begin()
    next()
    assert.strictEqual(counts.syncs, 1)
    job.cancel()
    assert.isTrue(job.onDisk())
    next()
    assert.isFalse(job.onDisk())
    assert.deepStrictEqual(ended, [])
  })

  it("given up while a write is out: nothing more is written once it returns, and its descriptor is closed then", () => {
    const file = journalIn()
    const { disk, counts, held, next } = heldDisk()
    const { ended, ends } = recordedEnds()
    const job = prepareRewrite(file, [callback("a", "x".repeat(200 * 1024)), callback("b", "x".repeat(200 * 1024))], disk, ends)
    job.begin()
    const [temporary] = temporaryFiles(file)
    job.cancel()
    assert.isFalse(existsSync(join(dirname(file), temporary ?? "")))
    assert.strictEqual(descriptorsOn(`${join(dirname(file), temporary ?? "")} (deleted)`), 1)
    next()
    assert.deepStrictEqual([counts.writes.length, counts.syncs, held.length, ended], [1, 0, 0, []])
    assert.strictEqual(descriptorsOn(`${join(dirname(file), temporary ?? "")} (deleted)`), 0)
  })

  it("the lines journalled meanwhile failing to be written (a full disk) fail it: the journal as it was, its file removed, its descriptor closed", () => {
    const file = journalIn()
    writeFileSync(file, "old\n")
    let temporary = ""
    const { disk, next } = heldDisk({
      write: (_fd, data, done) => done(null, data.length),
      createFresh: (path) => {
        temporary = path
        closeSync(nodeJournalDisk.createFresh(path))
        return openSync("/dev/full", "w")
      }
    })
    const { ended, ends } = recordedEnds()
    const before = descriptorsOn("/dev/full")
    const job = prepareRewrite(file, [callback("a")], disk, ends)
    job.begin()
    job.add(line("b", 10))
    runToEnd(job, next)
    assert.deepStrictEqual(ended, ["failed ENOSPC"])
    assert.strictEqual(readFileSync(file, "utf8"), "old\n")
    assert.isFalse(existsSync(temporary))
    assert.strictEqual(descriptorsOn("/dev/full"), before)
  })

  it("a rename that fails fails it: the journal as it was, its file removed", () => {
    const file = journalIn()
    writeFileSync(file, "old\n")
    const { disk, next } = heldDisk({
      rename: () => {
        throw Object.assign(new Error("EXDEV: cross-device link not permitted"), { code: "EXDEV" })
      }
    })
    const { ended, ends } = recordedEnds()
    const job = prepareRewrite(file, [callback("a")], disk, ends)
    job.begin()
    runToEnd(job, next)
    assert.deepStrictEqual(ended, ["failed EXDEV"])
    assert.strictEqual(readFileSync(file, "utf8"), "old\n")
    assert.deepStrictEqual(temporaryFiles(file), [])
  })
})
