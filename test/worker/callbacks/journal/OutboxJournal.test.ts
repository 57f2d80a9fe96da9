/**
 * The journal alone (`OUTBOX_FILE`): what one process appends, the next replays; lines that do not match the
 * journal's schema are skipped, not trusted. The poster's use of it is in CallbackPoster.test.ts.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process"
import { appendFileSync, existsSync, fstatSync, openSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, unlinkSync, utimesSync, lutimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { takeLock } from "../../../../src/worker/callbacks/journal/journalLock.js"
import { forEachLine } from "../../../../src/worker/callbacks/journal/lineReader.js"
import { type JournalDisk, nodeJournalDisk } from "../../../../src/worker/callbacks/journal/journalDisk.js"
import { type JournalledCallback, pendingLine } from "../../../../src/worker/callbacks/journal/journalLine.js"
import { followLinks, journalPathProblem } from "../../../../src/worker/callbacks/journal/journalPath.js"
import { type JournalNotices, type OutboxJournal, openJournal } from "../../../../src/worker/callbacks/journal/OutboxJournal.js"
import { replay } from "../../../../src/worker/callbacks/journal/replay.js"
import { MAX_REWRITE_TAIL_BYTES } from "../../../../src/worker/callbacks/journal/rewrite.js"
import { descriptorsOn } from "../../../support/descriptors.js"
import { fillableDisk } from "../../../support/fullDisk.js"
import { otherWorkersLock, startedAtMsOf, startTimeOf } from "../../../support/processStart.js"

/** Once the rewrite under way off the main thread, if any, is over (put in place, failed or given up). */
const rewritten = (journal: OutboxJournal) => Effect.promise(() => journal.whenRewritten())

/**
 * `count` callbacks of 10 KB, each journalled then delivered, as they come in production: a turn apart, so that a
 * rewrite started meanwhile ends. 500 pass the 4 MiB after which a journal is compacted.
 */
const deliverPastCompaction = (journal: OutboxJournal, count = 500, prefix = "many") =>
  Effect.gen(function* () {
    for (let index = 0; index < count; index++) {
      journal.pending({ ...callback(`${prefix}-${index}`), body: "x".repeat(10_000) })
      journal.done(`${prefix}-${index}`)
      yield* rewritten(journal)
    }
  })

/** One turn of the event loop (an fsync's callback may be due), not a wait for time to pass. */
const nextTurn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

const journalIn = () => join(mkdtempSync(join(tmpdir(), "journal-")), "outbox.jsonl")

/** A disk that is full for the rewrite's first `times` temporary files (their writes fail with ENOSPC), then has room. */
const fullForRewrites = (times = 1): JournalDisk => {
  let left = times
  return { ...nodeJournalDisk, createFresh: (path) => (left-- > 0 ? openSync("/dev/full", "w") : nodeJournalDisk.createFresh(path)) }
}

/** The rewrites' temporary files left beside `file`. */
const temporaryFiles = (file: string) => readdirSync(dirname(file)).filter((name) => name.endsWith(".tmp"))

/** Open the journal on `file` with every notice it gives recorded, by kind, in `said`. */
const openRecordingNotices = (file: string, disk: JournalDisk = nodeJournalDisk) => {
  const said = { notCompacted: [] as Array<string>, recreated: [] as Array<number>, directoryGone: [] as Array<string>, lockTaken: [] as Array<number>, pathMoved: [] as Array<string>, relocated: [] as Array<readonly [string, number]>, notRelocated: [] as Array<readonly [string, string, boolean]> }
  const notices: JournalNotices = {
    notCompacted: (cause) => void said.notCompacted.push(cause),
    recreated: (pending) => void said.recreated.push(pending),
    directoryGone: (directory) => void said.directoryGone.push(directory),
    lockTaken: (holder) => void said.lockTaken.push(holder),
    pathMoved: (now) => void said.pathMoved.push(now),
    relocated: (now, pending) => void said.relocated.push([now, pending]),
    notRelocated: (now, why, journalsNoMore) => void said.notRelocated.push([now, why, journalsNoMore])
  }
  return Effect.map(openJournal(file, () => undefined, notices, disk), (opened) => ({ ...opened, said }))
}

/** The journal's directory deleted with all it holds, then made again, empty. */
const recreateDirectoryOf = (file: string) => {
  rmSync(dirname(file), { recursive: true })
  mkdirSync(dirname(file))
}

const callback = (sessionId: string): JournalledCallback => ({
  session_id: sessionId,
  generation: 1,
  route: `http://127.0.0.1:9/${sessionId}`,
  body: JSON.stringify({ session_id: sessionId }),
  reason: "ended"
})

/** Open the journal on `file`, run `write` on it, close it; returns what the opening found left. */
const session = (file: string, write: (journal: OutboxJournal) => void = () => {}) =>
  Effect.map(openJournal(file), ({ journal, left }) => {
    write(journal)
    journal.close()
    return left
  })

/** A journal on a fresh file, with every write failure it reports kept in `failures`. */
const openRecordingFailures = (disk: JournalDisk = nodeJournalDisk) =>
  Effect.gen(function* () {
    const file = journalIn()
    const failures: Array<string> = []
    const { journal } = yield* openJournal(file, (reason) => failures.push(reason), undefined, disk)
    return { file, failures, journal }
  })

describe("OutboxJournal", () => {
  it.effect("every callback one process journals is replayed by the next, in order, one line each", () =>
    Effect.gen(function* () {
      const file = journalIn()
      yield* session(file, (journal) => {
        journal.pending(callback("a"))
        journal.pending(callback("b"))
        journal.pending(callback("c"))
      })
      assert.lengthOf(readFileSync(file, "utf8").split("\n").filter((line) => line !== ""), 3)
      assert.deepStrictEqual(yield* session(file), [callback("a"), callback("b"), callback("c")])
    })
  )

  it.effect("a done line removes its callback from the replay, and only that one", () =>
    Effect.gen(function* () {
      const file = journalIn()
      yield* session(file, (journal) => {
        journal.pending(callback("a"))
        journal.pending(callback("b"))
        journal.done("a")
      })
      assert.deepStrictEqual(yield* session(file), [callback("b")])
      // The opening compacted the file to what is left.
      assert.deepStrictEqual(
        readFileSync(file, "utf8").trim().split("\n").map((line) => JSON.parse(line)),
        [{ op: "pending", callback: callback("b") }]
      )
    })
  )

  it.effect("pending lines whose callback does not match the journal's schema are skipped", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const lines = [
        { op: "pending", callback: { ...callback("wrong-generation"), generation: "1" } },
        { op: "pending", callback: { ...callback("fractional-generation"), generation: 1.5 } },
        { op: "pending", callback: { session_id: "no-route", generation: 1, body: "{}", reason: "ended" } },
        { op: "pending", callback: { ...callback("numeric-body"), body: 7 } },
        { op: "pending", callback: { ...callback("unknown-reason"), reason: "vanished" } },
        { op: "pending", callback: { ...callback("numeric-id"), session_id: 7 } },
        // Longer than any id the worker issues, or empty (probe 52 I5: a 200,000-character one was logged whole).
        { op: "pending", callback: { ...callback("long-id"), session_id: "i".repeat(257) } },
        { op: "pending", callback: { ...callback("empty-id"), session_id: "" } },
        { op: "done", session_id: "i".repeat(257) },
        { op: "pending" },
        { op: "unknown", callback: callback("unknown-op") },
        { op: "pending", callback: callback("kept") }
      ]
      writeFileSync(file, lines.map((line) => JSON.stringify(line)).join("\n") + "\n")
      const opened = yield* openJournal(file)
      opened.journal.close()
      assert.deepStrictEqual(opened.left, [callback("kept")])
      assert.strictEqual(opened.skipped, 11)
    })
  )

  it.effect("a journal saved with a byte order mark (a Windows editor) keeps its first line; a mark anywhere else is damage", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const pending = (id: string) => JSON.stringify({ op: "pending", callback: callback(id) })
      writeFileSync(file, `\uFEFF${pending("first")}\n\uFEFF${pending("second")}\n${pending("third")}\n`)
      const opened = yield* openJournal(file)
      opened.journal.close()
      assert.deepStrictEqual([opened.left, opened.skipped], [[callback("first"), callback("third")], 1])
    })
  )

  it.effect("a line across the boundary of two reads is read whole; empty lines are not counted as damaged", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const line = (id: string, bodyBytes: number) => JSON.stringify({ op: "pending", callback: { ...callback(id), body: "x".repeat(bodyBytes) } })
      // The first line ends 40 bytes before the first megabyte: the second starts in one read and ends in the next.
      const first = line("first", 0)
      const padded = line("first", 1024 * 1024 - 40 - first.length)
      writeFileSync(file, `${padded}\n\n${line("second", 100)}\n   \n${line("third", 10)}`)
      const opened = yield* openJournal(file)
      opened.journal.close()
      assert.deepStrictEqual(opened.left.map((entry) => [entry.session_id, entry.body.length]), [["first", 1024 * 1024 - 40 - first.length], ["second", 100], ["third", 10]])
      assert.strictEqual(opened.skipped, 0)
    })
  )

  it.effect("opening and closing the journal leaves no descriptor behind (those it read the old file and a stale lock with included)", () =>
    Effect.gen(function* () {
      for (const staleLock of [null, "not a pid\n"]) {
        const file = journalIn()
        writeFileSync(file, JSON.stringify({ op: "pending", callback: callback("a") }) + "\n")
        if (staleLock !== null) writeFileSync(`${file}.lock`, staleLock)
        const before = readdirSync("/proc/self/fd").length
        const { journal } = yield* openJournal(file)
        journal.close()
        assert.strictEqual(readdirSync("/proc/self/fd").length, before, `stale lock: ${staleLock}`)
      }
    })
  )

  it.effect("a line longer than any journal line is skipped without being kept whole; the lines around it are read", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const pending = (id: string) => JSON.stringify({ op: "pending", callback: callback(id) })
      writeFileSync(file, `${pending("before")}\n${"x".repeat(9 * 1024 * 1024)}\n${pending("after")}\n`)
      const opened = yield* openJournal(file)
      opened.journal.close()
      assert.deepStrictEqual(opened.left, [callback("before"), callback("after")])
      assert.strictEqual(opened.skipped, 1)
    })
  )

  it.effect("after a failed write the next line starts on a line of its own: a torn line costs only itself", () =>
    Effect.gen(function* () {
      // Rewrites fail throughout: the file stays as appended, torn line and all.
      const full = fillableDisk()
      const { file, failures, journal } = yield* openRecordingFailures(fullForRewrites(Number.POSITIVE_INFINITY))
      journal.pending(callback("a"))
      const fd = full.fill(file)
      journal.pending(callback("b"))
      // What a nearly full disk leaves of a line: its start, with no newline.
      appendFileSync(file, '{"op":"pending","callback":{"session_id":"b"')
      full.free(fd, file)
      journal.pending(callback("c"))
      journal.pending(callback("d"))
      journal.close()
      assert.deepStrictEqual(failures, ["ENOSPC"])
      // One fresh line after the torn one, and no empty line after that.
      assert.notInclude(readFileSync(file, "utf8"), "\n\n")
      const opened = yield* openJournal(file)
      opened.journal.close()
      assert.deepStrictEqual(opened.left, [callback("a"), callback("c"), callback("d")])
      assert.strictEqual(opened.skipped, 1)
    })
  )

  it.effect("a journal in use by a live process cannot be opened by another; a lock left by a dead one is taken over", () =>
    Effect.gen(function* () {
      const file = journalIn()
      // The test runner's parent is alive and is not this process.
      writeFileSync(`${file}.lock`, `${process.ppid}\n`)
      const refused = yield* Effect.flip(openJournal(file))
      assert.strictEqual(refused.message, `OUTBOX_FILE ${file} cannot be used: it is in use by process ${process.ppid} (${file}.lock)`)
      // This process's own pid (a lock it left), no pid, or 0: nobody else holds it.
      for (const stale of [`${process.pid}\n`, "not a pid\n", "0\n"]) {
        writeFileSync(`${file}.lock`, stale)
        const taken = yield* openJournal(file)
        taken.journal.close()
      }
      // A FIFO where the lock goes cannot hold the start: it reads as no pid.
      execFileSync("mkfifo", [`${file}.lock`])
      const past = yield* openJournal(file)
      past.journal.close()
      const gone = spawnSync(process.execPath, ["-e", ""]).pid
      writeFileSync(`${file}.lock`, `${gone}\n`)
      const { journal } = yield* openJournal(file)
      assert.strictEqual(readlinkSync(`${file}.lock`), `${process.pid}:${startTimeOf(process.pid)}`)
      journal.close()
      assert.isFalse(existsSync(`${file}.lock`))
    })
  )

  it.effect("a lock whose pid now belongs to another process (a restarted container reuses pids) is taken over; its holder's is not", () =>
    Effect.gen(function* () {
      const file = journalIn()
      // The test runner's parent is alive, but it is not the process that started at tick 1.
      symlinkSync(`${process.ppid}:1`, `${file}.lock`)
      const taken = yield* openJournal(file)
      taken.journal.close()
      symlinkSync(`${process.ppid}:${startTimeOf(process.ppid)}`, `${file}.lock`)
      const refused = yield* Effect.flip(openJournal(file))
      assert.strictEqual(refused.message, `OUTBOX_FILE ${file} cannot be used: it is in use by process ${process.ppid} (${file}.lock)`)
      // An empty file (an older version's lock, caught between its creation and its pid) names nobody.
      unlinkSync(`${file}.lock`)
      writeFileSync(`${file}.lock`, "")
      const past = yield* openJournal(file)
      past.journal.close()
    })
  )

  it.effect("a lock's target names a holder only as `<decimal pid>:<start time>`: anything else is stale; a bare pid still counts", () =>
    Effect.gen(function* () {
      const file = journalIn()
      for (const target of ["abc:", "0:", "-5:", ` ${process.ppid}:`, `${process.ppid}.0:`, `+${process.ppid}:`, `0x${process.ppid.toString(16)}:`]) {
        symlinkSync(target, `${file}.lock`)
        const taken = yield* openJournal(file)
        taken.journal.close()
        assert.isFalse(existsSync(`${file}.lock`), target)
      }
      // A target with no start time names a live pid alone, as an older lock file does: held.
      symlinkSync(String(process.ppid), `${file}.lock`)
      const refused = yield* Effect.flip(openJournal(file))
      assert.include(refused.message, `it is in use by process ${process.ppid}`)
    })
  )

  it.effect("a directory where the lock goes is refused, naming it, and left as it is (it may hold something); once moved away, the journal opens", () =>
    Effect.gen(function* () {
      const file = journalIn()
      mkdirSync(`${file}.lock`)
      writeFileSync(join(`${file}.lock`, "kept"), "x")
      const refused = yield* Effect.flip(openJournal(file))
      assert.strictEqual(refused.message, `OUTBOX_FILE ${file} cannot be used: ${file}.lock is a directory, not a lock: move it away`)
      assert.strictEqual(readFileSync(join(`${file}.lock`, "kept"), "utf8"), "x")
      renameSync(`${file}.lock`, `${file}.moved`)
      const opened = yield* openJournal(file)
      opened.journal.close()
    })
  )

  it.effect("a lock without a start time (an older version's file, or a link `<pid>:`) written before its live pid's process started is stale: a restarted container's pid 1 is not its holder", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const lock = `${file}.lock`
      const yearAgo = Date.now() / 1000 - 365 * 86_400
      writeFileSync(lock, `${process.ppid}\n`)
      utimesSync(lock, yearAgo, yearAgo)
      const taken = yield* openJournal(file)
      taken.journal.close()
      symlinkSync(`${process.ppid}:`, lock)
      lutimesSync(lock, yearAgo, yearAgo)
      const again = yield* openJournal(file)
      again.journal.close()
      // Written now, after the process started: its holder.
      writeFileSync(lock, `${process.ppid}\n`)
      assert.include((yield* Effect.flip(openJournal(file))).message, `it is in use by process ${process.ppid}`)
      // A process started just now, against a lock a minute older (written after the boot): the lock is not its.
      const child = spawn("sleep", ["30"], { stdio: "ignore" })
      try {
        const pid = child.pid ?? 0
        writeFileSync(lock, `${pid}\n`)
        const minuteAgo = Date.now() / 1000 - 60
        utimesSync(lock, minuteAgo, minuteAgo)
        const taken = yield* openJournal(file)
        taken.journal.close()
        writeFileSync(lock, `${pid}\n`)
        assert.include((yield* Effect.flip(openJournal(file))).message, `it is in use by process ${pid}`)
        // A file system whose times are coarse (FAT's: 2 s, rounded down) can date a lock written just after its
        // holder's start up to 2 s before it: still its holder. Further back, it is stale.
        const started = startedAtMsOf(pid) / 1000
        utimesSync(lock, started - 1.5, started - 1.5)
        assert.include((yield* Effect.flip(openJournal(file))).message, `it is in use by process ${pid}`)
        utimesSync(lock, started - 2.5, started - 2.5)
        const stale = yield* openJournal(file)
        stale.journal.close()
      } finally {
        child.kill("SIGKILL")
      }
    })
  )

  it("two workers that both found the lock stale: the one that moves aside the other's new lock puts it back and stands down", () => {
    const file = journalIn()
    const lock = `${file}.lock`
    symlinkSync("4000000:1", lock)
    // Between this worker's read of the stale lock and its move, the other worker (a live process) took the lock over.
    const otherWorker = `${process.ppid}:`
    assert.throws(
      () =>
        takeLock(file, () => {
          unlinkSync(lock)
          symlinkSync(otherWorker, lock)
        }),
      new RegExp(`it is in use by process ${process.ppid}`)
    )
    assert.strictEqual(readlinkSync(lock), otherWorker)
    assert.deepStrictEqual(readdirSync(dirname(file)).filter((name) => name.includes(".stale")), [])
  })

  it("two workers that both found the lock stale: when the other moved it first, this one makes the lock and holds it", () => {
    const file = journalIn()
    const lock = `${file}.lock`
    symlinkSync("4000000:1", lock)
    // The other worker's move comes between this worker's read and its own; the other has not made its lock yet.
    assert.strictEqual(
      takeLock(file, () => renameSync(lock, `${lock}.other.stale`)),
      lock
    )
    assert.match(readlinkSync(lock), new RegExp(`^${process.pid}:`))
  })

  it("a stale lock that cannot be moved aside says why (the move's own error), rather than trying again", () => {
    const file = journalIn()
    const lock = `${file}.lock`
    symlinkSync("4000000:1", lock)
    // Something (not ours) is in the way of the move.
    mkdirSync(`${lock}.${process.pid}.stale`)
    writeFileSync(join(`${lock}.${process.pid}.stale`, "kept"), "")
    assert.throws(() => takeLock(file), /EISDIR/)
    assert.strictEqual(readlinkSync(lock), "4000000:1")
  })

  it("a loop of symbolic links is followed 40 hops (as the kernel does), not forever: the journal then fails to open, naming the loop", () =>
    Effect.gen(function* () {
      const directory = dirname(journalIn())
      const [a, b] = [join(directory, "a.jsonl"), join(directory, "b.jsonl")]
      symlinkSync(b, a)
      symlinkSync(a, b)
      assert.strictEqual(followLinks(a), a, "40 hops from a, an even number, end at a")
      assert.include((yield* Effect.flip(openJournal(a))).message, "is a chain of more than 40 symbolic links, or a loop")
    }).pipe(Effect.runSync)
  )

  it("a chain of 20 links leads to the file at its end; one of 41 is refused, its last link left as it is (probe 56 #7: at 17 the last link became the journal)", () =>
    Effect.gen(function* () {
      const directory = dirname(journalIn())
      const chain = (length: number, name: string) => {
        const target = join(directory, `${name}.jsonl`)
        writeFileSync(target, JSON.stringify({ op: "pending", callback: callback("kept") }) + "\n")
        for (let index = 1; index <= length; index++) symlinkSync(index === 1 ? target : join(directory, `${name}-${index - 1}`), join(directory, `${name}-${index}`))
        return { target, head: join(directory, `${name}-${length}`), last: join(directory, `${name}-1`) }
      }
      const twenty = chain(20, "twenty")
      const opened = yield* openJournal(twenty.head)
      assert.deepStrictEqual([opened.file, opened.left], [twenty.target, [callback("kept")]])
      opened.journal.close()
      const long = chain(41, "long")
      assert.include((yield* Effect.flip(openJournal(long.head))).message, "is a chain of more than 40 symbolic links, or a loop")
      assert.isTrue(lstatSync(long.last).isSymbolicLink())
    }).pipe(Effect.runSync)
  )

  it("a lock that cannot be made says why (the link's own error), not a later one", () => {
    const missing = join(mkdtempSync(join(tmpdir(), "journal-lock-")), "gone", "outbox.jsonl")
    assert.throws(() => takeLock(missing), /ENOENT: no such file or directory, symlink/)
  })

  it.effect("a done line for a session never journalled is written and changes nothing else", () =>
    Effect.gen(function* () {
      const file = journalIn()
      yield* session(file, (journal) => {
        journal.pending(callback("a"))
        journal.done("never-pending")
      })
      assert.deepStrictEqual(yield* session(file), [callback("a")])
    })
  )

  it.effect("the file is rewritten exactly when delivered lines pass 4 MiB and make up more than half of it; live lines never count", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const mib = (id: string): JournalledCallback => ({ ...callback(id), body: "x".repeat(1024 * 1024) })
      const inode = () => statSync(file).ino
      const { journal } = yield* openJournal(file)
      const first = inode()
      // 5 MiB of live lines: more than 4 MiB appended, but nothing delivered.
      for (const id of ["l1", "l2", "l3", "l4", "l5"]) journal.pending(mib(id))
      yield* rewritten(journal)
      assert.strictEqual(inode(), first)
      // Each delivered MiB adds two lines; the file passes twice its live 5 MiB at the fifth done line.
      for (const id of ["d1", "d2", "d3", "d4"]) {
        journal.pending(mib(id))
        journal.done(id)
      }
      journal.pending(mib("d5"))
      yield* rewritten(journal)
      assert.strictEqual(inode(), first)
      journal.done("d5")
      // Written off the main thread: in place once that is over.
      assert.strictEqual(inode(), first)
      yield* rewritten(journal)
      assert.notStrictEqual(inode(), first)
      const live = ["l1", "l2", "l3", "l4", "l5"].map(mib)
      assert.strictEqual(statSync(file).size, live.reduce((sum, entry) => sum + Buffer.byteLength(JSON.stringify({ op: "pending", callback: entry }) + "\n"), 0))
      journal.close()
      // Reopened with those 5 MiB left: 5 MiB more live lines are no reason to rewrite either.
      const again = yield* openJournal(file)
      const reopened = inode()
      for (const id of ["m1", "m2", "m3", "m4", "m5"]) again.journal.pending(mib(id))
      yield* rewritten(again.journal)
      assert.strictEqual(inode(), reopened)
      again.journal.close()
    })
  )

  it.effect("a rewrite that fails at start leaves no descriptor open", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const before = readdirSync("/proc/self/fd").length
      const { journal } = yield* openJournal(file, undefined, undefined, fullForRewrites())
      journal.close()
      assert.strictEqual(readdirSync("/proc/self/fd").length, before)
    })
  )

  it.effect("a rewrite that fails at start (a full disk) is said, not fatal: the old file is appended to, and no temporary file is left", () =>
    Effect.gen(function* () {
      const file = journalIn()
      yield* session(file, (journal) => ["a", "b"].forEach((id) => journal.pending(callback(id))))
      // The rewrite's temporary file, made to fail as a full disk does.
      const opened = yield* openRecordingNotices(file, fullForRewrites())
      assert.deepStrictEqual(opened.said.notCompacted, ["ENOSPC"])
      assert.deepStrictEqual(opened.left, [callback("a"), callback("b")])
      assert.deepStrictEqual(temporaryFiles(file), [])
      opened.journal.done("a")
      opened.journal.pending(callback("c"))
      opened.journal.close()
      assert.deepStrictEqual(yield* session(file), [callback("b"), callback("c")])
    })
  )

  it.effect("the rewrite's temporary file has a name no one can foresee: a link put where its old name was changes nothing (probe 50 M1: another file was overwritten through it)", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const victim = join(dirname(file), "victim.txt")
      writeFileSync(victim, "precious")
      // The name it had: `<file>.<pid>.tmp`.
      symlinkSync(victim, `${file}.${process.pid}.tmp`)
      const { journal } = yield* openJournal(file)
      journal.pending(callback("a"))
      unlinkSync(file)
      journal.pending(callback("b"))
      journal.close()
      assert.strictEqual(readFileSync(victim, "utf8"), "precious")
      assert.isFalse(lstatSync(file).isSymbolicLink())
      assert.deepStrictEqual(yield* session(file), [callback("a"), callback("b")])
    })
  )

  describe("a link put at the path between the rewrite's rename and the open that follows is not written through", () => {
    /** A disk whose next `armed` renames leave a link to `victim` where the rewritten file was put. */
    const linkAfterRename = (victim: string, armed: { times: number }): JournalDisk => ({
      ...nodeJournalDisk,
      rename: (from, to) => {
        nodeJournalDisk.rename(from, to)
        if (armed.times-- <= 0) return
        unlinkSync(to)
        symlinkSync(victim, to)
      }
    })

    it.effect("at start: the journal is not opened (ELOOP), the other file untouched", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const victim = join(dirname(file), "victim.txt")
        writeFileSync(victim, "precious")
        const failed = yield* Effect.flip(openJournal(file, undefined, undefined, linkAfterRename(victim, { times: 1 })))
        assert.match(failed.reason, /ELOOP/)
        assert.strictEqual(readFileSync(victim, "utf8"), "precious")
      })
    )

    it.effect("while running: the failure is said, the line goes to the file still open, and the next rewrite puts a file back", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const victim = join(dirname(file), "victim.txt")
        writeFileSync(victim, "precious")
        const armed = { times: 0 }
        const failures: Array<string> = []
        const { journal } = yield* openJournal(file, (reason) => failures.push(reason), undefined, linkAfterRename(victim, armed))
        journal.pending(callback("a"))
        // Deleted: the next line writes the file again, and this time a link is put in its place.
        unlinkSync(file)
        armed.times = 1
        journal.pending(callback("b"))
        assert.deepStrictEqual(failures, ["ELOOP"])
        assert.isTrue(lstatSync(file).isSymbolicLink())
        journal.pending(callback("c"))
        journal.close()
        assert.strictEqual(readFileSync(victim, "utf8"), "precious")
        assert.isFalse(lstatSync(file).isSymbolicLink())
        assert.deepStrictEqual(yield* session(file), [callback("a"), callback("b"), callback("c")])
      })
    )
  })

  it.effect("each rewrite's temporary file has a name of its own, 16 random hex digits (review 55 I2)", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const made: Array<string> = []
      const recording: JournalDisk = { ...nodeJournalDisk, createFresh: (path) => (made.push(path), nodeJournalDisk.createFresh(path)) }
      const { journal } = yield* openJournal(file, undefined, undefined, recording)
      journal.pending(callback("a"))
      unlinkSync(file)
      journal.pending(callback("b"))
      journal.close()
      assert.lengthOf(made, 2)
      for (const path of made) assert.match(path, new RegExp(`^${file.replace(/[.]/g, "\\.")}\\.[0-9a-f]{16}\\.tmp$`))
      assert.notStrictEqual(made[0], made[1])
    })
  )

  it.effect("the temporary files of rewrites a killed process left are removed at the next start; other files are kept (review 55 L2)", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const stale = `${file}.0123456789abcdef.tmp`
      const kept = [`${file}.notours.tmp`, join(dirname(file), "other.jsonl.0123456789abcdef.tmp"), `${file}.fedcba9876543210.tmp.bak`]
      for (const path of [stale, ...kept]) writeFileSync(path, "{}\n")
      yield* session(file)
      assert.isFalse(existsSync(stale))
      for (const path of kept) assert.isTrue(existsSync(path), path)
    })
  )

  // (A FIFO is refused the same way; a test that opened one the old way would hang the whole run, so none does.)
  it("the rewrite's file is made, not opened: a link, even one to nowhere, or a file already at its path is refused (EEXIST)", () => {
    const dir = dirname(journalIn())
    const link = join(dir, "link.tmp")
    symlinkSync(join(dir, "elsewhere"), link)
    const plain = join(dir, "plain.tmp")
    writeFileSync(plain, "")
    for (const path of [link, plain]) {
      assert.throws(() => nodeJournalDisk.createFresh(path), /EEXIST/)
    }
    assert.isFalse(existsSync(join(dir, "elsewhere")))
  })

  it.effect("a file kept as it was (its rewrite failed at start) counts the bytes already in it: once mostly delivered, it is rewritten at the next line", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const mib = (id: string): JournalledCallback => ({ ...callback(id), body: "x".repeat(1024 * 1024) })
      // 5 MiB delivered and one small line live, as a process left it; the next one's rewrite fails at start.
      for (const id of ["d1", "d2", "d3", "d4", "d5"]) {
        appendFileSync(file, JSON.stringify({ op: "pending", callback: mib(id) }) + "\n" + JSON.stringify({ op: "done", session_id: id }) + "\n")
      }
      appendFileSync(file, JSON.stringify({ op: "pending", callback: callback("kept") }) + "\n")
      const opened = yield* openJournal(file, undefined, undefined, fullForRewrites())
      assert.isAbove(statSync(file).size, 5 * 1024 * 1024)
      // The disk has room again (the failed rewrite's temporary file is gone); the 4 MiB a failed rewrite waits for
      // were already in the file.
      opened.journal.pending(callback("next"))
      yield* rewritten(opened.journal)
      assert.isBelow(statSync(file).size, 4096, "rewritten to its two live lines")
      opened.journal.close()
      assert.deepStrictEqual(yield* session(file), [callback("kept"), callback("next")])
    })
  )

  it.effect("a file that an earlier process left in the middle of a line, kept as it was (its rewrite failed): the next line starts on its own, and is replayed", () =>
    Effect.gen(function* () {
      const file = journalIn()
      yield* session(file, (journal) => journal.pending(callback("a")))
      // Killed while writing b's line, on a full disk.
      appendFileSync(file, '{"op":"pending","callback":{"session_id":"b","ro')
      const opened = yield* openJournal(file, undefined, undefined, fullForRewrites())
      assert.deepStrictEqual(opened.left, [callback("a")])
      opened.journal.pending(callback("c"))
      opened.journal.close()
      assert.deepStrictEqual(yield* session(file), [callback("a"), callback("c")])
    })
  )

  it.effect("while open, the file is rewritten with its live lines once delivered ones make up most of it: it stays bounded", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const big = (id: string): JournalledCallback => ({ ...callback(id), body: "x".repeat(100 * 1024) })
      const { journal } = yield* openJournal(file)
      journal.pending(big("kept"))
      for (let i = 0; i < 200; i++) {
        journal.pending(big(`s${i}`))
        journal.done(`s${i}`)
        yield* rewritten(journal)
      }
      // 20 MB went through; what is left is the live line and what was appended since the last rewrite.
      assert.isBelow(statSync(file).size, 5 * 1024 * 1024)
      journal.close()
      assert.deepStrictEqual(yield* session(file), [big("kept")])
    })
  )

  it.effect("a journal deleted while open is written again with what is pending, and said; new files are owner-only", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const { journal, said } = yield* openRecordingNotices(file)
      assert.strictEqual(statSync(file).mode & 0o777, 0o600)
      journal.pending(callback("a"))
      journal.pending(callback("b"))
      journal.done("a")
      unlinkSync(file)
      journal.pending(callback("c"))
      assert.deepStrictEqual(said.recreated, [1])
      // Written whole: the next line starts none of its own with a blank one.
      assert.strictEqual(readFileSync(file, "utf8"), pendingLine(callback("b")) + pendingLine(callback("c")))
      journal.close()
      assert.deepStrictEqual(yield* session(file), [callback("b"), callback("c")])
    })
  )

  it.effect("a journal deleted with its directory says so (not a failed rewrite), and is written again with what is pending once the directory exists", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const directory = dirname(file)
      const { journal, said } = yield* openRecordingNotices(file)
      journal.pending(callback("a"))
      rmSync(directory, { recursive: true })
      journal.pending(callback("b"))
      assert.deepStrictEqual(said.directoryGone, [directory])
      assert.deepStrictEqual(said.notCompacted, [])
      assert.deepStrictEqual(said.recreated, [])
      mkdirSync(directory)
      journal.pending(callback("c"))
      assert.deepStrictEqual(said.recreated, [2], "written again with the two pending, then the third appended")
      assert.deepStrictEqual(said.directoryGone, [directory])
      journal.close()
      assert.deepStrictEqual(yield* session(file), [callback("a"), callback("b"), callback("c")])
    })
  )

  it.effect.each([
    ["a journal deleted with its directory takes its lock again when it is written again, and releases only its own", recreateDirectoryOf],
    ["a lock deleted alone is made again before the next line", (file: string) => unlinkSync(`${file}.lock`)]
  ] as const)("%s", ([, disturb]) =>
    Effect.gen(function* () {
      const file = journalIn()
      const lock = `${file}.lock`
      const { journal } = yield* openJournal(file)
      journal.pending(callback("a"))
      disturb(file)
      journal.pending(callback("b"))
      assert.strictEqual(readlinkSync(lock), `${process.pid}:${startTimeOf(process.pid)}`, "the lock is taken again before the line")
      journal.close()
      assert.isFalse(existsSync(lock))
      assert.deepStrictEqual(yield* session(file), [callback("a"), callback("b")])
    })
  )

  it.effect("a journal deleted with its directory, whose lock another worker took since, is left to it: not rewritten, not compacted, its lock not released", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const lock = `${file}.lock`
      const { journal, said } = yield* openRecordingNotices(file)
      journal.pending(callback("a"))
      recreateDirectoryOf(file)
      // The other worker (a live process) takes the lock and writes its journal.
      const otherWorker = otherWorkersLock()
      symlinkSync(otherWorker, lock)
      const othersLine = "the other worker's journal\n"
      writeFileSync(file, othersLine)
      journal.pending(callback("b"))
      assert.deepStrictEqual(said.lockTaken, [process.ppid])
      assert.deepStrictEqual(said.recreated, [])
      // Delivered lines past the size that compacts a journal of its own: this one leaves the file alone.
      yield* deliverPastCompaction(journal)
      journal.done("b")
      assert.deepStrictEqual(said.lockTaken, [process.ppid], "said once")
      // The deleted file is let go (once its fsync in flight returns): nothing fills the disk the other worker uses.
      for (let turn = 0; turn < 100_000 && descriptorsOn(`${file} (deleted)`) > 0; turn++) yield* nextTurn
      assert.strictEqual(descriptorsOn(`${file} (deleted)`), 0)
      journal.close()
      assert.strictEqual(readFileSync(file, "utf8"), othersLine)
      assert.strictEqual(readlinkSync(lock), otherWorker)
    })
  )

  it.effect("a lock deleted alone that another worker took since: this worker writes no more lines to the file, and says so", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const lock = `${file}.lock`
      const { journal, said } = yield* openRecordingNotices(file)
      journal.pending(callback("a"))
      unlinkSync(lock)
      symlinkSync(otherWorkersLock(), lock)
      const before = readFileSync(file, "utf8")
      assert.isFalse(journal.pending(callback("b")), "not written, and the caller told so")
      journal.done("a")
      journal.close()
      assert.deepStrictEqual(said.lockTaken, [process.ppid])
      assert.strictEqual(readFileSync(file, "utf8"), before)
      assert.strictEqual(readlinkSync(lock), otherWorkersLock())
    })
  )

  it.effect("a lock deleted alone, taken by another worker that appended to the same file and died: its lines outlive this worker's next compaction", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const lock = `${file}.lock`
      const { journal } = yield* openJournal(file)
      journal.pending(callback("a"))
      unlinkSync(lock)
      appendFileSync(file, JSON.stringify({ op: "pending", callback: callback("left") }) + "\n")
      symlinkSync("4000000:1", lock)
      journal.pending(callback("b"))
      yield* deliverPastCompaction(journal)
      assert.isBelow(statSync(file).size, 1_000_000, "compacted")
      journal.close()
      assert.deepStrictEqual(yield* session(file), [callback("a"), callback("left"), callback("b")])
    })
  )

  it.effect("after its directory was deleted, the callbacks another worker left pending in the file now there are kept when the journal is written again", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const { journal } = yield* openJournal(file)
      journal.pending(callback("a"))
      recreateDirectoryOf(file)
      // Another worker journalled here and was killed: its lock names a process that is gone.
      writeFileSync(file, JSON.stringify({ op: "pending", callback: callback("left") }) + "\n")
      symlinkSync("4000000:1", `${file}.lock`)
      journal.pending(callback("b"))
      journal.close()
      assert.deepStrictEqual(yield* session(file), [callback("a"), callback("left"), callback("b")])
    })
  )

  it.effect("a lock that cannot be made again (a directory in its place) leaves the file unwritten and is said; once it can be, the file is written again", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const lock = `${file}.lock`
      const { journal, said } = yield* openRecordingNotices(file)
      journal.pending(callback("a"))
      recreateDirectoryOf(file)
      mkdirSync(lock)
      journal.pending(callback("b"))
      assert.deepStrictEqual(said.notCompacted, [`its lock cannot be taken again: ${lock} is a directory, not a lock: move it away`])
      assert.isFalse(existsSync(file))
      rmSync(lock, { recursive: true })
      journal.pending(callback("c"))
      // The same with the file in place: appended to, never compacted (the rewrite would replace it), until the lock is made.
      rmSync(lock, { force: true })
      mkdirSync(lock)
      yield* deliverPastCompaction(journal)
      assert.isAbove(statSync(file).size, 5_000_000, "not compacted without its lock")
      rmSync(lock, { recursive: true })
      yield* deliverPastCompaction(journal, 1, "last")
      assert.isBelow(statSync(file).size, 20_000, "compacted once the lock is made again")
      assert.deepStrictEqual(said.recreated, [2])
      journal.close()
      assert.deepStrictEqual(yield* session(file), [callback("a"), callback("b"), callback("c")])
    })
  )

  it.effect("a journal behind a symbolic link stays behind it: the compaction replaces the file the link points at", () =>
    Effect.gen(function* () {
      const target = journalIn()
      const link = join(mkdtempSync(join(tmpdir(), "journal-link-")), "outbox.jsonl")
      symlinkSync(target, link)
      yield* session(link, (journal) => journal.pending(callback("a")))
      assert.deepStrictEqual(yield* session(link), [callback("a")])
      assert.isTrue(lstatSync(link).isSymbolicLink())
      assert.include(readFileSync(target, "utf8"), '"session_id":"a"')
    })
  )

  describe("a link on the way to the journal re-pointed while it is open (probe 54 #3: a deploy's `current` flipped had the lines in one release, the lock in both, and the stop read back the other)", () => {
    /** `link` made to point at `target` in one step, as a deploy flips it. */
    const repoint = (link: string, target: string) => {
      symlinkSync(target, `${link}.next`)
      renameSync(`${link}.next`, link)
    }

    it.effect("a linked directory: lines, lock and rewrites stay in the directory it was opened in; the flip is said once", () =>
      Effect.gen(function* () {
        const base = mkdtempSync(join(tmpdir(), "journal-deploy-"))
        for (const release of ["1", "2"]) mkdirSync(join(base, "releases", release), { recursive: true })
        symlinkSync(join(base, "releases", "1"), join(base, "current"))
        const opened = yield* openRecordingNotices(join(base, "current", "outbox.jsonl"))
        const first = join(base, "releases", "1", "outbox.jsonl")
        assert.strictEqual(opened.file, first)
        opened.journal.pending(callback("a"))
        // The release flipped to holds no journal yet, as a rule.
        repoint(join(base, "current"), join(base, "releases", "2"))
        opened.journal.pending(callback("b"))
        opened.journal.pending(callback("c"))
        assert.deepStrictEqual(opened.said.pathMoved, [join(base, "releases", "2", "outbox.jsonl")])
        assert.deepStrictEqual(readdirSync(join(base, "releases", "2")), [], "nothing made there")
        opened.journal.close()
        assert.deepStrictEqual(readdirSync(join(base, "releases", "1")), ["outbox.jsonl"], "its lock let go")
        assert.deepStrictEqual(replay(first).left, [callback("a"), callback("b"), callback("c")])
      })
    )

    describe("the old release's directory deleted after the flip (review 60: the journal stayed in the deleted directory, warned at each line, kept nowhere)", () => {
      /** A deploy's layout, the journal opened through `current` → `releases/1` (on `disk`), then flipped to `releases/2`. */
      const flippedDeploy = (disk: JournalDisk = nodeJournalDisk) => Effect.gen(function* () {
        const base = mkdtempSync(join(tmpdir(), "journal-flip-"))
        for (const release of ["1", "2"]) mkdirSync(join(base, "releases", release), { recursive: true })
        symlinkSync(join(base, "releases", "1"), join(base, "current"))
        const opened = yield* openRecordingNotices(join(base, "current", "outbox.jsonl"), disk)
        opened.journal.pending(callback("a"))
        opened.journal.pending(callback("gone"))
        opened.journal.done("gone")
        repoint(join(base, "current"), join(base, "releases", "2"))
        opened.journal.pending(callback("b"))
        return { ...opened, base, now: join(base, "releases", "2", "outbox.jsonl") }
      })

      it.effect("the journal goes where the path leads now, lock and all, with what is pending; said once, and no more moves said", () =>
        Effect.gen(function* () {
          const { journal, said, base, now } = yield* flippedDeploy()
          rmSync(join(base, "releases", "1"), { recursive: true })
          journal.pending(callback("c"))
          // Pending when it moved: a and b (c's line follows).
          assert.deepStrictEqual(said.relocated, [[now, 2]])
          assert.deepStrictEqual(said.directoryGone, [])
          assert.deepStrictEqual(replay(now).left, [callback("a"), callback("b"), callback("c")])
          assert.strictEqual(readlinkSync(`${now}.lock`).split(":")[0], String(process.pid))
          journal.done("a")
          journal.pending(callback("d"))
          assert.deepStrictEqual([said.relocated.length, said.pathMoved.length, said.notCompacted], [1, 1, []])
          journal.close()
          assert.deepStrictEqual(readdirSync(join(base, "releases", "2")), ["outbox.jsonl"], "its lock let go")
          assert.deepStrictEqual(replay(join(base, "current", "outbox.jsonl")).left, [callback("b"), callback("c"), callback("d")])
        })
      )

      it.effect("once moved, a later flip of the path is said again: the path is still followed through its links", () =>
        Effect.gen(function* () {
          const { journal, said, base, now } = yield* flippedDeploy()
          rmSync(join(base, "releases", "1"), { recursive: true })
          journal.pending(callback("c"))
          mkdirSync(join(base, "releases", "3"))
          repoint(join(base, "current"), join(base, "releases", "3"))
          journal.pending(callback("d"))
          assert.deepStrictEqual(said.pathMoved, [now, join(base, "releases", "3", "outbox.jsonl")])
          journal.close()
          assert.deepStrictEqual(replay(now).left.map((entry) => entry.session_id), ["a", "b", "c", "d"])
        })
      )

      it.effect("a move whose rewrite fails there (a full disk) appends to the file it finds, and makes it whole once the disk has room", () =>
        Effect.gen(function* () {
          let full = false
          const disk: JournalDisk = { ...nodeJournalDisk, createFresh: (path) => (full ? openSync("/dev/full", "w") : nodeJournalDisk.createFresh(path)) }
          const { journal, said, base, now } = yield* flippedDeploy(disk)
          rmSync(join(base, "releases", "1"), { recursive: true })
          full = true
          journal.pending(callback("c"))
          assert.deepStrictEqual([said.relocated, said.notCompacted], [[[now, 2]], ["ENOSPC"]])
          assert.deepStrictEqual(replay(now).left.map((entry) => entry.session_id), ["c"], "a and b not there yet")
          full = false
          journal.pending(callback("d"))
          yield* rewritten(journal)
          journal.close()
          assert.deepStrictEqual(replay(now).left.map((entry) => entry.session_id), ["a", "b", "c", "d"])
        })
      )

      it.effect("what another process left pending in a journal found there is kept in it", () =>
        Effect.gen(function* () {
          const { journal, said, base, now } = yield* flippedDeploy()
          // Theirs, and an older line of a session still pending here: this worker's is the one kept.
          writeFileSync(now, [callback("theirs"), { ...callback("a"), body: "their older a" }].map(pendingLine).join(""))
          rmSync(join(base, "releases", "1"), { recursive: true })
          journal.pending(callback("c"))
          assert.deepStrictEqual(said.relocated, [[now, 3]])
          journal.close()
          assert.sameDeepMembers([...replay(now).left], [callback("theirs"), callback("a"), callback("b"), callback("c")])
        })
      )

      it.effect("a journal there that another live worker holds is that worker's: this one stands down, saying so", () =>
        Effect.gen(function* () {
          const { journal, said, base, now } = yield* flippedDeploy()
          // The test runner's parent stands for the other worker: a live process.
          symlinkSync(otherWorkersLock(), `${now}.lock`)
          rmSync(join(base, "releases", "1"), { recursive: true })
          journal.pending(callback("c"))
          assert.deepStrictEqual([said.relocated, said.lockTaken], [[], []])
          assert.deepStrictEqual(said.notRelocated, [[now, `another worker (pid ${process.ppid}) holds the journal there, and this worker journals no more`, true]])
          assert.isFalse(existsSync(now), "nothing written to the other worker's journal")
          journal.pending(callback("d"))
          assert.lengthOf(said.notRelocated, 1, "said once")
          journal.close()
          assert.strictEqual(readlinkSync(`${now}.lock`), otherWorkersLock(), "the other worker's lock left in place")
        })
      )

      it.effect("a place it cannot go (a directory, a file of another name, one too large to read there) leaves it as it was, lock and all, said at each line; it goes once the place is fit (review 61 #5)", () =>
        Effect.gen(function* () {
          const { journal, said, base, now } = yield* flippedDeploy()
          rmSync(join(base, "releases", "1"), { recursive: true })
          mkdirSync(now)
          journal.pending(callback("c"))
          rmSync(now, { recursive: true })
          writeFileSync(join(base, "elsewhere"), "")
          linkSync(join(base, "elsewhere"), now)
          journal.pending(callback("d"))
          assert.isFalse(existsSync(`${now}.lock`), "a place refused is not locked")
          unlinkSync(now)
          // Over the 64 MiB a running worker reads of another's file (sparse: no disk used).
          writeFileSync(now, "")
          truncateSync(now, 65 * 1024 * 1024)
          journal.pending(callback("e"))
          assert.deepStrictEqual(said.relocated, [])
          assert.deepStrictEqual(said.notRelocated.map(([to, why, journalsNoMore]) => [to, journalsNoMore, why.replace(/ \(.*$/, "").replace(/^.* is a directory, not a regular file$/, "a directory").replace(/^.* has 2 names.*$/, "2 names").replace(/^.* holds \d+ bytes.*$/, "too large")]), [
            [now, false, "a directory"],
            [now, false, "2 names"],
            [now, false, "too large"]
          ])
          assert.deepStrictEqual(readdirSync(join(base, "releases", "2")).sort(), ["outbox.jsonl"], "no lock left there")
          unlinkSync(now)
          journal.pending(callback("f"))
          assert.deepStrictEqual(said.relocated, [[now, 5]])
          journal.close()
          assert.deepStrictEqual(replay(now).left.map((entry) => entry.session_id), ["a", "b", "c", "d", "e", "f"])
        })
      )

      it.effect("a place that is a chain of more than 40 links is refused as at open, no link in it replaced (review 62 #2)", () =>
        Effect.gen(function* () {
          const { journal, said, base, now } = yield* flippedDeploy()
          const far = join(base, "far.jsonl")
          writeFileSync(far, "")
          for (let index = 1; index <= 45; index++) symlinkSync(index === 1 ? far : join(base, `l${index - 1}`), join(base, `l${index}`))
          symlinkSync(join(base, "l45"), now)
          rmSync(join(base, "releases", "1"), { recursive: true })
          journal.pending(callback("c"))
          assert.deepStrictEqual(said.relocated, [])
          assert.deepStrictEqual(said.notRelocated.map(([, why]) => why.replace(/^.* is a chain/, "… is a chain")), ["… is a chain of more than 40 symbolic links, or a loop"])
          for (let index = 1; index <= 45; index++) assert.isTrue(lstatSync(join(base, `l${index}`)).isSymbolicLink(), `l${index} left a link`)
          journal.close()
        })
      )

      it.effect("a stop with no line since the deletion still moves it, when callbacks are pending (review 61 #2: an idle worker had kept them nowhere)", () =>
        Effect.gen(function* () {
          const { journal, said, base, now } = yield* flippedDeploy()
          rmSync(join(base, "releases", "1"), { recursive: true })
          assert.isTrue(journal.catchUp())
          assert.deepStrictEqual(said.relocated, [[now, 2]])
          journal.close()
          assert.deepStrictEqual(replay(now).left, [callback("a"), callback("b")])
        })
      )

      it.effect("the path leading nowhere that exists: the journal stays, and the missing directory is said, as before", () =>
        Effect.gen(function* () {
          const { journal, said, base } = yield* flippedDeploy()
          rmSync(join(base, "releases"), { recursive: true })
          journal.pending(callback("c"))
          assert.deepStrictEqual(said.relocated, [])
          assert.deepStrictEqual(said.directoryGone, [join(base, "releases", "1")])
          journal.close()
        })
      )
    })

    it.effect("a relative link under a linked directory is read from where the kernel reaches it: its `..` leads to the release's parent, not the link's (review 60)", () =>
      Effect.gen(function* () {
        const base = mkdtempSync(join(tmpdir(), "journal-shared-"))
        const app = join(base, "app")
        mkdirSync(join(app, "releases", "1"), { recursive: true })
        mkdirSync(join(app, "shared"))
        // The textual reading, `current/../../shared`, exists too: a journal there would be the wrong one.
        mkdirSync(join(base, "shared"))
        symlinkSync(join("releases", "1"), join(app, "current"))
        symlinkSync(join("..", "..", "shared", "outbox.jsonl"), join(app, "releases", "1", "outbox.jsonl"))
        const configured = join(app, "current", "outbox.jsonl")
        const shared = join(app, "shared", "outbox.jsonl")
        assert.strictEqual(followLinks(configured), shared)
        const opened = yield* openRecordingNotices(configured)
        assert.strictEqual(opened.file, shared)
        opened.journal.pending(callback("a"))
        opened.journal.pending(callback("b"))
        assert.deepStrictEqual(opened.said.pathMoved, [], "the path leads where it was opened")
        opened.journal.close()
        assert.deepStrictEqual(replay(shared).left, [callback("a"), callback("b")])
        assert.deepStrictEqual(readdirSync(join(base, "shared")), [])
        // What a process reading the configured path finds.
        assert.deepStrictEqual(replay(configured).left, [callback("a"), callback("b")])
      })
    )

    it.effect("a link as the journal's own name: its lines stay in the file it led to, and the flip is said; a flip back is said again when it moves once more", () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "journal-relink-"))
        const [one, two, link] = ["j1", "j2", "outbox.jsonl"].map((name) => join(dir, name)) as [string, string, string]
        writeFileSync(two, JSON.stringify({ op: "pending", callback: callback("other") }) + "\n")
        symlinkSync(one, link)
        const opened = yield* openRecordingNotices(link)
        assert.strictEqual(opened.file, one)
        repoint(link, two)
        opened.journal.pending(callback("b"))
        repoint(link, one)
        opened.journal.pending(callback("c"))
        repoint(link, two)
        opened.journal.pending(callback("d"))
        assert.deepStrictEqual(opened.said.pathMoved, [two, two])
        opened.journal.close()
        assert.deepStrictEqual(replay(one).left, [callback("b"), callback("c"), callback("d")])
        assert.deepStrictEqual(replay(two).left, [callback("other")])
      })
    )
  })

  it("journalPathProblem: a regular file, or a new one in a writable directory; a directory, a FIFO or a missing directory is named", () => {
    const dir = mkdtempSync(join(tmpdir(), "journal-path-"))
    assert.isNull(journalPathProblem(join(dir, "new.jsonl")))
    writeFileSync(join(dir, "old.jsonl"), "")
    assert.isNull(journalPathProblem(join(dir, "old.jsonl")))
    assert.strictEqual(journalPathProblem(dir), `${dir} is a directory, not a regular file`)
    // Through a link, what it leads to is named: that is what would be written.
    symlinkSync(dir, join(dir, "to-dir"))
    assert.strictEqual(journalPathProblem(join(dir, "to-dir")), `${dir} is a directory, not a regular file`)
    execFileSync("mkfifo", [join(dir, "fifo")])
    assert.strictEqual(journalPathProblem(join(dir, "fifo")), `${join(dir, "fifo")} is a FIFO, not a regular file`)
    assert.strictEqual(journalPathProblem(join(dir, "missing", "outbox.jsonl")), `its directory ${join(dir, "missing")} does not exist`)
    assert.strictEqual(journalPathProblem("/dev/null"), "/dev/null is a device or another special file, not a regular file")
    assert.strictEqual(journalPathProblem(join(dir, "old.jsonl", "x")), `${join(dir, "old.jsonl", "x")} cannot be used (ENOTDIR)`)

    // Nothing can be created in /proc, not even by root.
    assert.match(journalPathProblem("/proc/self/outbox.jsonl") ?? "", /^its directory \/proc\/self cannot be written \(E[A-Z]+\)$/)
    // A kernel interface that looks like a regular file, which root's `access` calls writable.
    assert.strictEqual(journalPathProblem("/proc/version"), "/proc/version is on procfs, where what is written is not kept as a file's contents")
    assert.strictEqual(journalPathProblem("/sys/kernel/uevent_seqnum"), "/sys/kernel/uevent_seqnum is on sysfs, where what is written is not kept as a file's contents")
    // Under /sys but not sysfs: a pid written to cgroup.procs moves that process (review 40 L3). v2's file, or v1's.
    const procs = ["/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/pids/cgroup.procs"].find((file) => existsSync(file))
    if (procs !== undefined) assert.match(journalPathProblem(procs) ?? "", /^\/sys\/fs\/cgroup\/.*cgroup\.procs is on cgroup2?, where/)
  })

  it("journalPathProblem: a file on any of the kernel's interface file systems is refused naming it, whether or not this machine mounts it (statfs magic numbers, Linux's magic.h)", () => {
    const file = join(mkdtempSync(join(tmpdir(), "journal-path-")), "outbox.jsonl")
    writeFileSync(file, "")
    const kernels: ReadonlyArray<readonly [number, string]> = [
      [0x9fa0, "procfs"], [0x62656572, "sysfs"], [0x63677270, "cgroup2"], [0x27e0eb, "cgroup"], [0x64626720, "debugfs"], [0x74726163, "tracefs"],
      [0x73636673, "securityfs"], [0x62656570, "configfs"], [0xde5e81e4, "efivarfs"], [0xcafe4a11, "bpf"], [0x6165676c, "pstore"]
    ]
    for (const [magic, name] of kernels) {
      assert.strictEqual(journalPathProblem(file, () => magic), `${file} is on ${name}, where what is written is not kept as a file's contents`, name)
    }
    // ext4, tmpfs, overlayfs, xfs: kept.
    for (const magic of [0xef53, 0x01021994, 0x794c7630, 0x58465342]) assert.isNull(journalPathProblem(file, () => magic))
  })

  it("journalPathProblem: a link whose text is not a path (a process's pipe or socket, as /dev/stdout can be) is judged by what the kernel opens", () => {
    const dir = mkdtempSync(join(tmpdir(), "journal-path-"))
    // A child's standard output, a socket pair (libuv's pipe): its link in /proc reads `socket:[N]`, which names no file.
    const child = spawn("sleep", ["30"], { stdio: ["ignore", "pipe", "ignore"] })
    try {
      const output = `/proc/${child.pid}/fd/1`
      assert.match(readlinkSync(output), /^socket:\[\d+\]$/)
      assert.strictEqual(journalPathProblem(output), `${output} is a socket, not a regular file`)
      symlinkSync(output, join(dir, "through-a-link"))
      assert.strictEqual(journalPathProblem(join(dir, "through-a-link")), `${join(dir, "through-a-link")} is a socket, not a regular file`)
    } finally {
      child.kill("SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it.effect("the journal holds one descriptor on its file while open, and none once closed", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const { journal } = yield* openJournal(file)
      assert.strictEqual(descriptorsOn(file), 1)
      journal.close()
      assert.strictEqual(descriptorsOn(file), 0)
    })
  )

  it.effect("lines a full disk refused are made good once it has room: the next line, or the stop, rewrites the file with what is pending (probe 51 M1)", () =>
    Effect.gen(function* () {
      const full = fillableDisk()
      const { file, failures, journal } = yield* openRecordingFailures(full.disk)
      journal.pending(callback("a"))
      const fd = full.fill(file)
      // A pending line and a done line refused: without a rewrite, b would be sent by nobody and a sent twice.
      journal.pending(callback("b"))
      journal.done("a")
      journal.pending(callback("c"))
      assert.deepStrictEqual(failures, ["ENOSPC", "ENOSPC", "ENOSPC"])
      assert.isFalse(journal.catchUp(), "still full")
      full.free(fd, file)
      assert.isTrue(journal.catchUp())
      assert.deepStrictEqual(yield* session(file), [callback("b"), callback("c")])
      journal.pending(callback("d"))
      journal.close()
      assert.lengthOf(failures, 3)
      const opened = yield* openJournal(file)
      opened.journal.close()
      assert.deepStrictEqual([opened.left, opened.skipped], [[callback("b"), callback("c"), callback("d")], 0])
    })
  )

  it.effect("the next line after the disk has room rewrites the file first, without being asked", () =>
    Effect.gen(function* () {
      const full = fillableDisk()
      const { file, journal } = yield* openRecordingFailures(full.disk)
      const fd = full.fill(file)
      journal.pending(callback("a"))
      full.free(fd, file)
      journal.pending(callback("b"))
      yield* rewritten(journal)
      // Whole before the stop: b's line, written while the rewrite was under way, is at its end.
      assert.deepStrictEqual(replay(file), { left: [callback("a"), callback("b")], skipped: 0 })
      assert.deepStrictEqual(temporaryFiles(file), [])
      journal.close()
      const opened = yield* openJournal(file)
      opened.journal.close()
      assert.deepStrictEqual([opened.left, opened.skipped], [[callback("a"), callback("b")], 0])
    })
  )

  describe("a rewrite while the worker runs is written off the main thread (probe 52 L3: 64 MB pending stalled every request for 0.5 s)", () => {
    /** The node disk, with each write of a rewrite held until `release` hands it on. */
    const heldWrites = () => {
      const held: Array<() => void> = []
      const disk: JournalDisk = { ...nodeJournalDisk, write: (fd, data, done) => void held.push(() => nodeJournalDisk.write(fd, data, done)) }
      const release = () => held.splice(0).forEach((write) => write())
      /** Every write handed on, a turn apart, until the rewrite beside `file` is over (its temporary file gone). */
      const writeThrough = (file: string) =>
        Effect.gen(function* () {
          while (held.length > 0 || temporaryFiles(file).length > 0) {
            release()
            yield* nextTurn
          }
        })
      return { disk, held, release, writeThrough }
    }
    /** A live line of 1 MiB, then delivered ones until a rewrite starts (3 MiB more): what the file must keep. */
    const startRewrite = (journal: OutboxJournal, file: string, started = () => temporaryFiles(file).length > 0) => {
      const mib = (id: string): JournalledCallback => ({ ...callback(id), body: "x".repeat(1024 * 1024) })
      journal.pending(mib("live"))
      for (let index = 0; !started(); index++) {
        if (index === 10) throw new Error("no rewrite started")
        journal.pending(mib(`d${index}`))
        journal.done(`d${index}`)
      }
      return mib("live")
    }

    /**
     * With one write of a given-up rewrite (its temporary file `path`) still out: 8 MiB delivered start no other
     * rewrite, which on a hung disk would hold one more of the pool's threads, which DNS lookups share (review 61 #4);
     * once that write returns, delivered lines past the next threshold start one, written through to its end.
     */
    const heldBackUntilTheWriteReturns = (journal: OutboxJournal, file: string, path: string, writes: ReturnType<typeof heldWrites>) =>
      Effect.gen(function* () {
        const mib = "x".repeat(1024 * 1024)
        for (let index = 0; index < 8; index++) {
          journal.pending({ ...callback(`w${index}`), body: mib })
          journal.done(`w${index}`)
        }
        assert.deepStrictEqual([temporaryFiles(file), writes.held.length], [[], 1])
        writes.release()
        while (descriptorsOn(`${path} (deleted)`) > 0) yield* nextTurn
        assert.lengthOf(writes.held, 0, "nothing of the given-up one written after")
        for (let index = 0; temporaryFiles(file).length === 0; index++) {
          if (index === 10) throw new Error("no rewrite started once the write returned")
          journal.pending({ ...callback(`d${index}`), body: mib })
          journal.done(`d${index}`)
        }
        yield* writes.writeThrough(file)
        yield* rewritten(journal)
      })

    it.effect("the line that starts it returns with nothing of it written; the lines journalled meanwhile end the new file", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const { disk, held, writeThrough } = heldWrites()
        const { journal, said } = yield* openRecordingNotices(file, disk)
        const first = statSync(file).ino
        const live = startRewrite(journal, file)
        assert.lengthOf(held, 1, "its first slice handed to the thread pool, not written")
        const [temporary] = temporaryFiles(file)
        assert.strictEqual(statSync(join(dirname(file), temporary!)).size, 0)
        // Meanwhile: one pending, one delivered that was pending before it started, one both.
        journal.pending(callback("during"))
        journal.done("live")
        journal.pending(callback("brief"))
        journal.done("brief")
        assert.strictEqual(statSync(file).ino, first, "appended to as it was")
        const before = statSync(file).size
        yield* writeThrough(file)
        yield* rewritten(journal)
        assert.notStrictEqual(statSync(file).ino, first)
        assert.deepStrictEqual(replay(file), { left: [callback("during")], skipped: 0 })
        assert.isBelow(statSync(file).size, before - 2 * live.body.length, "the delivered MiBs shed")
        assert.deepStrictEqual(said.notCompacted, [])
        // Appended to the new file from then on.
        journal.pending(callback("after"))
        journal.close()
        assert.deepStrictEqual(yield* session(file), [callback("during"), callback("after")])
      })
    )

    it.effect("lines journalled meanwhile past a slice go to the thread pool too: only the last is written in the turn that puts the file in place", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const { disk, writeThrough } = heldWrites()
        let handedOn = 0
        const counting: JournalDisk = { ...disk, write: (fd, data, done) => disk.write(fd, data, (error, written) => ((handedOn += written), done(error, written))) }
        const { journal } = yield* openJournal(file, undefined, undefined, counting)
        const live = startRewrite(journal, file)
        const meanwhile = ["m1", "m2", "m3"].map((id) => ({ ...live, session_id: id }))
        for (const entry of meanwhile) journal.pending(entry)
        yield* writeThrough(file)
        yield* rewritten(journal)
        const lastLine = Buffer.byteLength(JSON.stringify({ op: "pending", callback: meanwhile[2] }) + "\n")
        assert.strictEqual(handedOn, statSync(file).size - lastLine)
        journal.close()
        assert.deepStrictEqual((yield* session(file)).map((entry) => entry.session_id), ["live", "m1", "m2", "m3"])
      })
    )

    it.effect("the close gives it up: its temporary file removed at once, its descriptor closed when the write under way returns; the file keeps every line", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const { disk, release } = heldWrites()
        const { journal } = yield* openJournal(file, undefined, undefined, disk)
        const live = startRewrite(journal, file)
        const [temporary] = temporaryFiles(file)
        const path = join(dirname(file), temporary!)
        assert.strictEqual(descriptorsOn(path), 1)
        journal.pending(callback("during"))
        journal.close()
        assert.deepStrictEqual(temporaryFiles(file), [])
        yield* rewritten(journal)
        // Closed at once, its number could go to another file while the pool still writes to it.
        assert.strictEqual(descriptorsOn(`${path} (deleted)`), 1, "kept open while its write is in flight")
        release()
        while (descriptorsOn(`${path} (deleted)`) > 0) yield* nextTurn
        assert.deepStrictEqual(yield* session(file), [live, callback("during")])
      })
    )

    it.effect("one with nothing pending ends in its first step, and the next one still runs (review 61 #6: kept as under way, it had stopped compaction for good)", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const { journal } = yield* openJournal(file)
        const mib = "x".repeat(1024 * 1024)
        // 5 MiB pending are most of the file until delivered: the rewrite then has nothing to write, and ends at once.
        journal.pending({ ...callback("big"), body: mib.repeat(5) })
        journal.done("big")
        assert.isBelow(statSync(file).size, 1024, "emptied in the line's own turn")
        let largest = 0
        for (let index = 0; index < 20; index++) {
          journal.pending({ ...callback(`d${index}`), body: mib })
          journal.done(`d${index}`)
          yield* rewritten(journal)
          largest = Math.max(largest, statSync(file).size)
        }
        // Rewritten again once past 4 MiB: 20 MiB delivered never make it 6.
        assert.isBelow(largest, 6 * 1024 * 1024)
        assert.deepStrictEqual(temporaryFiles(file), [])
        journal.close()
        assert.deepStrictEqual(replay(file), { left: [], skipped: 0 })
      })
    )

    it.effect("one whose disk call never returns is given up, said, once the lines held for its end pass the cap; the next one runs (review 59 I7)", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const writes = heldWrites()
        const { journal, said } = yield* openRecordingNotices(file, writes.disk)
        const live = startRewrite(journal, file)
        const [temporary] = temporaryFiles(file)
        const path = join(dirname(file), temporary!)
        const mib = "x".repeat(1024 * 1024)
        let lines = 0
        while (said.notCompacted.length === 0 && lines < 100) journal.pending({ ...callback(`held${lines++}`), body: mib })
        // Each line is a little over a MiB: the cap's 64 MiB passed at the 64th.
        assert.strictEqual(lines, MAX_REWRITE_TAIL_BYTES / (1024 * 1024))
        assert.deepStrictEqual(said.notCompacted, ["a rewrite waited on the disk while more than 64 MiB were journalled: given up"])
        assert.deepStrictEqual(temporaryFiles(file), [])
        yield* rewritten(journal)
        // The thread pool still holds its descriptor: closed once that write returns.
        assert.strictEqual(descriptorsOn(`${path} (deleted)`), 1)
        for (let index = 0; index < lines; index++) journal.done(`held${index}`)
        yield* heldBackUntilTheWriteReturns(journal, file, path, writes)
        assert.lengthOf(said.notCompacted, 1)
        assert.deepStrictEqual(replay(file), { left: [live], skipped: 0 })
        journal.close()
      })
    )

    it.effect("a rewrite on the main thread replaces it (the file deleted meanwhile): the one under way is dropped, never put in place", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const { disk, release } = heldWrites()
        const { journal, said } = yield* openRecordingNotices(file, disk)
        const live = startRewrite(journal, file)
        unlinkSync(file)
        journal.pending(callback("after"))
        assert.deepStrictEqual(said.recreated, [1])
        const inode = statSync(file).ino
        release()
        for (let turn = 0; turn < 20; turn++) yield* nextTurn
        assert.strictEqual(statSync(file).ino, inode, "the file written again stays")
        assert.deepStrictEqual(temporaryFiles(file), [])
        journal.close()
        assert.deepStrictEqual(yield* session(file), [live, callback("after")])
      })
    )

    it.effect("one replaced by a rewrite on the main thread while its disk call is out holds back the next until that call returns (review 62 #6)", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const writes = heldWrites()
        const { journal } = yield* openRecordingNotices(file, writes.disk)
        const live = startRewrite(journal, file)
        const [temporary] = temporaryFiles(file)
        const path = join(dirname(file), temporary!)
        unlinkSync(file)
        journal.pending(callback("after"))
        assert.deepStrictEqual([temporaryFiles(file), writes.held.length], [[], 1])
        yield* heldBackUntilTheWriteReturns(journal, file, path, writes)
        journal.close()
        assert.deepStrictEqual(yield* session(file), [live, callback("after")])
      })
    )

    it.effect("a rewrite that fails under way (a full disk) is said; its file is removed and the journal appended to as it was", () =>
      Effect.gen(function* () {
        const file = journalIn()
        let made = 0
        const full = fullForRewrites(2)
        const { journal, said } = yield* openRecordingNotices(file, { ...full, createFresh: (path) => (made++, full.createFresh(path)) })
        const first = statSync(file).ino
        const live = startRewrite(journal, file, () => made > 1)
        yield* rewritten(journal)
        // The first is the start's, whose file (empty) the full disk refused to sync.
        assert.deepStrictEqual(said.notCompacted, ["EINVAL", "ENOSPC"])
        assert.deepStrictEqual(temporaryFiles(file), [])
        assert.strictEqual(statSync(file).ino, first)
        journal.pending(callback("after"))
        journal.close()
        assert.deepStrictEqual(yield* session(file), [live, callback("after")])
      })
    )

    it.effect("synced whole before it is put in place, the lines journalled meanwhile included, as the file it replaces was; the new journal synced after (review 59 M1)", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const { disk, writeThrough } = heldWrites()
        /** Each fsync's file and the size it covered; the rename's source, its size, and the fsyncs made before it. */
        const synced: Array<readonly [number, number]> = []
        let renamed: readonly [number, number, number] | null = null
        const recording: JournalDisk = {
          ...disk,
          fsync: (fd, done) => {
            const stats = fstatSync(fd)
            synced.push([stats.ino, stats.size])
            disk.fsync(fd, done)
          },
          rename: (from, to) => {
            const stats = statSync(from)
            renamed = [stats.ino, stats.size, synced.length]
            disk.rename(from, to)
          }
        }
        const { journal } = yield* openJournal(file, undefined, undefined, recording)
        const live = startRewrite(journal, file)
        for (const id of ["m1", "m2", "m3"]) journal.pending({ ...live, session_id: id })
        yield* writeThrough(file)
        yield* rewritten(journal)
        const [inode, size, syncsBefore] = (renamed as readonly [number, number, number] | null) ?? ([0, 0, 0] as const)
        assert.strictEqual(inode, statSync(file).ino)
        // The last of the tail is written with the rename: all but it was synced before.
        const lastLine = Buffer.byteLength(JSON.stringify({ op: "pending", callback: { ...live, session_id: "m3" } }) + "\n")
        const before = Math.max(...synced.slice(0, syncsBefore).filter(([syncedInode]) => syncedInode === inode).map(([, covered]) => covered))
        assert.isAtLeast(before, size - lastLine)
        // And the file in place is synced from its new descriptor, once it is the journal.
        while (synced.filter(([syncedInode, covered]) => syncedInode === inode && covered === size).length === 0) yield* nextTurn
        journal.close()
      })
    )

    it.effect("a rewrite under way when the lock comes back from a worker that appended to the file and died is given up: what it left is kept (review 59 M2)", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const lock = `${file}.lock`
        const { disk, writeThrough } = heldWrites()
        const { journal } = yield* openJournal(file, undefined, undefined, disk)
        const live = startRewrite(journal, file)
        unlinkSync(lock)
        appendFileSync(file, JSON.stringify({ op: "pending", callback: callback("left") }) + "\n")
        symlinkSync("4000000:1", lock)
        journal.pending(callback("b"))
        yield* writeThrough(file)
        yield* rewritten(journal)
        assert.deepStrictEqual(replay(file).left, [live, callback("left"), callback("b")])
        journal.close()
        assert.deepStrictEqual(yield* session(file), [live, callback("left"), callback("b")])
      })
    )

    it.effect("a rewrite that finds the journal deleted when it is done is not put in place: the next line writes the journal again, and says so", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const { disk, writeThrough } = heldWrites()
        const { journal, said } = yield* openRecordingNotices(file, disk)
        const live = startRewrite(journal, file)
        unlinkSync(file)
        yield* writeThrough(file)
        yield* rewritten(journal)
        assert.isFalse(existsSync(file))
        journal.pending(callback("after"))
        assert.deepStrictEqual(said.recreated, [1])
        journal.close()
        assert.deepStrictEqual(yield* session(file), [live, callback("after")])
      })
    )

    it.effect("a catch-up after a full disk, once done, makes the journal whole: the lines after it start no other rewrite", () =>
      Effect.gen(function* () {
        const full = fillableDisk()
        let made = 0
        const counting: JournalDisk = { ...full.disk, createFresh: (path) => (made++, full.disk.createFresh(path)) }
        const { file, journal } = yield* openRecordingFailures(counting)
        const fd = full.fill(file)
        journal.pending(callback("a"))
        full.free(fd, file)
        const before = made
        journal.pending(callback("b"))
        yield* rewritten(journal)
        for (const id of ["c", "d", "e"]) {
          journal.pending(callback(id))
          yield* rewritten(journal)
        }
        assert.strictEqual(made - before, 1)
        journal.close()
        assert.deepStrictEqual(yield* session(file), ["a", "b", "c", "d", "e"].map(callback))
      })
    )

    it.effect("a rewrite whose lock was lost meanwhile is not put in place", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const { disk, writeThrough } = heldWrites()
        const { journal, said } = yield* openRecordingNotices(file, disk)
        const first = statSync(file).ino
        startRewrite(journal, file)
        unlinkSync(`${file}.lock`)
        yield* writeThrough(file)
        yield* rewritten(journal)
        assert.strictEqual(statSync(file).ino, first)
        assert.deepStrictEqual(temporaryFiles(file), [])
        assert.deepStrictEqual(said.notCompacted, [])
        journal.close()
      })
    )
  })

  it.effect("a disk with room for lines but not for the whole file is not filled at every line: the tries to catch up back off, 1, 2, 4 … lines apart (review 57 L4)", () =>
    Effect.gen(function* () {
      const full = fillableDisk()
      let rewritesFail = false
      let tries = 0
      const disk: JournalDisk = {
        ...full.disk,
        createFresh: (path) => {
          if (!rewritesFail) return full.disk.createFresh(path)
          tries++
          return openSync("/dev/full", "w")
        }
      }
      const { file, journal } = yield* openRecordingFailures(disk)
      const fd = full.fill(file)
      journal.pending(callback("refused"))
      // Lines fit again; a rewrite does not.
      full.free(fd, file)
      rewritesFail = true
      const triedAt: Array<number> = []
      for (let line = 1; line <= 20; line++) {
        const before = tries
        journal.pending(callback(`line-${line}`))
        yield* rewritten(journal)
        if (tries > before) triedAt.push(line)
      }
      assert.deepStrictEqual(triedAt, [1, 3, 6, 11, 20])
      // The stop's try is not held back.
      const before = tries
      journal.close()
      assert.strictEqual(tries, before + 1)
    })
  )

  it.effect("any rewrite that succeeds (here: of a deleted file) makes the journal whole: the next line does not rewrite it again", () =>
    Effect.gen(function* () {
      const full = fillableDisk()
      let rewrites = 0
      const disk: JournalDisk = { ...full.disk, createFresh: (path) => (rewrites++, full.disk.createFresh(path)) }
      const { file, journal } = yield* openRecordingFailures(disk)
      const fd = full.fill(file)
      journal.pending(callback("a"))
      const beforeRecovery = rewrites
      full.free(fd, file)
      unlinkSync(file)
      journal.pending(callback("b"))
      journal.pending(callback("c"))
      journal.close()
      assert.strictEqual(rewrites - beforeRecovery, 1)
      assert.deepStrictEqual(yield* session(file), [callback("a"), callback("b"), callback("c")])
    })
  )

  it.effect("a stop with nothing behind does not make again a journal an operator deleted (review 57 I10)", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const { journal, said } = yield* openRecordingNotices(file)
      journal.pending(callback("a"))
      journal.done("a")
      unlinkSync(file)
      assert.isTrue(journal.catchUp())
      journal.close()
      assert.isFalse(existsSync(file))
      assert.deepStrictEqual(said.recreated, [])
    })
  )

  describe("how often the file is rewritten, and on which thread", () => {
    /** The node disk (or `base`), counting the rewrites' temporary files made and the writes handed to the thread pool. */
    const countingDisk = (base: JournalDisk = nodeJournalDisk, failedMakes: ReadonlyArray<number> = []) => {
      const counts = { made: 0, poolWrites: 0 }
      const disk: JournalDisk = {
        ...base,
        createFresh: (path) => {
          counts.made++
          if (failedMakes.includes(counts.made)) throw Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" })
          return base.createFresh(path)
        },
        write: (fd, data, done) => {
          counts.poolWrites++
          base.write(fd, data, done)
        }
      }
      return { counts, disk }
    }

    /** `count` small callbacks journalled and delivered. */
    const deliverSmall = (journal: OutboxJournal, count: number, prefix: string) => {
      for (let index = 0; index < count; index++) {
        journal.pending(callback(`${prefix}-${index}`))
        journal.done(`${prefix}-${index}`)
      }
    }

    it.effect("after the rewrite at start, and after one while running, not again before 4 MiB more are appended; the line after one starts no blank line", () =>
      Effect.gen(function* () {
        const { counts, disk } = countingDisk()
        const file = journalIn()
        const { journal } = yield* openJournal(file, () => undefined, undefined, disk)
        deliverSmall(journal, 20, "start")
        assert.strictEqual(counts.made, 1, "the rewrite at start only")
        yield* deliverPastCompaction(journal)
        const made = counts.made
        assert.isAbove(made, 1)
        journal.pending(callback("after"))
        const lines = readFileSync(file, "utf8")
        assert.isTrue(lines.endsWith(pendingLine(callback("after"))))
        assert.isFalse(lines.startsWith("\n") || lines.includes("\n\n"), "no blank line")
        deliverSmall(journal, 20, "later")
        assert.strictEqual(counts.made, made)
        journal.close()
      })
    )

    it.effect("a rewrite that could not start (its file not made) is tried again only once 4 MiB more are appended, and said", () =>
      Effect.gen(function* () {
        const { counts, disk } = countingDisk(nodeJournalDisk, [2])
        const file = journalIn()
        const { journal, said } = yield* openRecordingNotices(file, disk)
        // About 4.9 MB delivered: the first try past 4 MiB fails, the next is due past 8 MiB.
        yield* deliverPastCompaction(journal)
        assert.deepStrictEqual([counts.made, said.notCompacted], [2, ["EACCES"]])
        journal.close()
      })
    )

    it.effect("a callback journalled again for its session (a later generation) takes its earlier line's place in what is live: the file is still rewritten", () =>
      Effect.gen(function* () {
        const { counts, disk } = countingDisk()
        const file = journalIn()
        const { journal } = yield* openJournal(file, () => undefined, undefined, disk)
        for (let generation = 1; generation <= 500; generation++) {
          journal.pending({ ...callback("again"), generation, body: "x".repeat(10_000) })
          yield* rewritten(journal)
        }
        assert.strictEqual(counts.made, 2)
        assert.isBelow(statSync(file).size, 4 * 1024 * 1024)
        journal.close()
        assert.deepStrictEqual((yield* session(file)).map((entry) => entry.generation), [500])
      })
    )

    it.effect.each(["pending", "done"] as const)("after a full disk has room, the %s line that finds the journal behind hands its rewrite to the thread pool", (kind) =>
      Effect.gen(function* () {
        const full = fillableDisk()
        const { counts, disk } = countingDisk(full.disk)
        const { file, journal } = yield* openRecordingFailures(disk)
        journal.pending(callback("a"))
        const fd = full.fill(file)
        journal.pending(callback("b"))
        full.free(fd, file)
        const before = counts.poolWrites
        if (kind === "pending") journal.pending(callback("c"))
        else journal.done("a")
        assert.isAbove(counts.poolWrites, before, "written on the pool")
        assert.lengthOf(temporaryFiles(file), 1, "under way when the line returns")
        yield* rewritten(journal)
        journal.close()
        assert.deepStrictEqual((yield* session(file)).map((entry) => entry.session_id), kind === "pending" ? ["a", "b", "c"] : ["b"])
      })
    )

    it.effect("a rewrite failing for a missing file while its directory is there is said as that failure, not as the directory gone", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const disk: JournalDisk = {
          ...nodeJournalDisk,
          rename: () => {
            throw Object.assign(new Error("ENOENT: no such file or directory, rename"), { code: "ENOENT" })
          }
        }
        const opened = yield* openRecordingNotices(file, disk)
        opened.journal.close()
        assert.deepStrictEqual([opened.said.notCompacted, opened.said.directoryGone], [["ENOENT"], []])
      })
    )

    it.effect("the stop's catch-up with nothing pending, its directory deleted, makes nothing and says nothing", () =>
      Effect.gen(function* () {
        const file = journalIn()
        const { journal, said } = yield* openRecordingNotices(file)
        journal.pending(callback("a"))
        journal.done("a")
        rmSync(dirname(file), { recursive: true })
        assert.isTrue(journal.catchUp())
        journal.close()
        assert.deepStrictEqual([said.directoryGone, said.notCompacted, said.recreated, existsSync(dirname(file))], [[], [], [], false])
      })
    )
  })

  it.effect("a write that fails once the journal is open (a full disk) is reported, never thrown", () =>
    Effect.gen(function* () {
      const full = fillableDisk()
      const { file, failures, journal } = yield* openRecordingFailures(full.disk)
      assert.isTrue(journal.pending(callback("a")))
      full.fill(file)
      assert.isFalse(journal.pending(callback("b")), "the caller told it was not written")
      journal.done("a")
      journal.close()
      assert.deepStrictEqual(failures, ["ENOSPC", "ENOSPC"])
      // What was written before is still there for the next process.
      assert.deepStrictEqual(yield* session(file), [callback("a")])
    })
  )

  it.effect.each([
    ["a device (a link to /dev/zero, which never ends)", (file: string) => symlinkSync("/dev/zero", file), "is a device or another special file, not a regular file: not read"],
    ["a file larger than a running worker reads (64 MiB, sparse)", (file: string) => (writeFileSync(file, ""), truncateSync(file, 65 * 1024 * 1024)), "holds 68157440 bytes, more than a running worker reads"]
  ] as const)("%s put in the journal's place while open is not read: the lines go on to the open file, and the failure is said", ([, replace, said]) =>
    Effect.gen(function* () {
      const { file, failures, journal } = yield* openRecordingFailures()
      journal.pending(callback("a"))
      unlinkSync(file)
      replace(file)
      journal.pending(callback("b"))
      journal.done("a")
      assert.lengthOf(failures, 2, "said at each line, not thrown (the poster's log throttles it)")
      for (const failure of failures) assert.include(failure, said)
      assert.include(failures[0], file, "the failure names the file")
      // Once the path is free again, the journal is written again with what is still pending.
      unlinkSync(file)
      journal.pending(callback("c"))
      journal.close()
      assert.deepStrictEqual(yield* session(file), [callback("b"), callback("c")])
    })
  )

  it("a replay reads a file only as far as it was when opened: lines another process appends meanwhile wait for the next", () => {
    const file = journalIn()
    const line = (sessionId: string) => JSON.stringify({ op: "pending", callback: callback(sessionId) }) + "\n"
    writeFileSync(file, line("a") + line("b"))
    let appended = false
    // Small reads, and a line appended as soon as the first is seen: a writer that keeps up with the reader.
    const { left } = replay(file, Number.POSITIVE_INFINITY, (fd, maxLineBytes, visit, _chunk, maxBytes) =>
      forEachLine(fd, maxLineBytes, (seen) => {
        if (!appended) appendFileSync(file, line("late"))
        appended = true
        visit(seen)
      }, 16, maxBytes)
    )
    assert.isTrue(appended)
    assert.deepStrictEqual(left, [callback("a"), callback("b")])
    assert.deepStrictEqual(replay(file).left, [callback("a"), callback("b"), callback("late")])
  })

  it.effect("a journal whose lock alone was deleted is read whole again, however large: it is still this worker's own file, not a stranger's", () =>
    Effect.gen(function* () {
      const { file, failures, journal } = yield* openRecordingFailures()
      journal.pending(callback("a"))
      // Past the 64 MiB a running worker reads of another file (sparse: nothing is written).
      truncateSync(file, statSync(file).size + 65 * 1024 * 1024)
      appendFileSync(file, "\n")
      unlinkSync(`${file}.lock`)
      journal.pending(callback("b"))
      assert.deepStrictEqual(failures, [])
      journal.close()
      assert.deepStrictEqual(yield* session(file), [callback("a"), callback("b")])
    })
  )

  it.effect("a journal with another name (a hard link) is refused under either, naming it: a worker on the other name would take its own lock and send the same callbacks", () =>
    Effect.gen(function* () {
      const file = journalIn()
      writeFileSync(file, JSON.stringify({ op: "pending", callback: callback("a") }) + "\n")
      const other = join(dirname(file), "hard.jsonl")
      linkSync(file, other)
      for (const name of [file, other]) {
        const refused = yield* Effect.flip(openJournal(name))
        assert.include(String(refused), `${name} has 2 names (hard links); its lock is taken by name`)
        assert.isFalse(existsSync(`${name}.lock`), "no lock taken")
      }
      unlinkSync(other)
      assert.deepStrictEqual(yield* session(file), [callback("a")])
    })
  )

  it.effect("a done line without a string session_id removes nothing", () =>
    Effect.gen(function* () {
      const file = journalIn()
      const lines = [{ op: "pending", callback: callback("a") }, { op: "done" }, { op: "done", session_id: ["a"] }]
      writeFileSync(file, lines.map((line) => JSON.stringify(line)).join("\n") + "\n")
      assert.deepStrictEqual(yield* session(file), [callback("a")])
    })
  )
})
