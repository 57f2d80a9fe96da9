/**
 * Markers written whole at a moment the worker chooses (the exit marker, the update marker): never blocking on what was
 * put at their path since the start (a FIFO), never into a device, never over the journal a link may lead to.
 */
import { execFileSync } from "node:child_process"
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { Worker } from "node:worker_threads"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { MarkerRefused, writeMarkerFile } from "../../../src/worker/lifecycle/markerFile.js"

const dir = () => mkdtempSync(join(tmpdir(), "marker-"))

/** What `writeMarkerFile` threw: a refusal's message, or Node's code. */
const refusal = (write: () => void): string => {
  try {
    write()
    return "written"
  } catch (error) {
    return error instanceof MarkerRefused ? error.message : ((error as NodeJS.ErrnoException).code ?? String(error))
  }
}

describe("writeMarkerFile", () => {
  it("writes the text whole, replacing what a regular file held, or creating it (through a link too)", () => {
    const at = dir()
    const file = join(at, "marker")
    writeFileSync(file, "an earlier run's longer text\n")
    // Another file kept beside it (the journal, in the same directory) is not this one.
    writeFileSync(join(at, "outbox.jsonl"), "kept\n")
    writeMarkerFile(file, "42 stopped\n", [join(at, "outbox.jsonl"), join(at, "missing")])
    assert.strictEqual(readFileSync(file, "utf8"), "42 stopped\n")
    assert.strictEqual(readFileSync(join(at, "outbox.jsonl"), "utf8"), "kept\n")
    symlinkSync(join(at, "target"), join(at, "link"))
    writeMarkerFile(join(at, "link"), "", [])
    assert.strictEqual(readFileSync(join(at, "target"), "utf8"), "")
  })

  it("a FIFO put at the path is never waited on: with no reader Node's ENXIO at once, with one a refusal, nothing sent", () => {
    const at = dir()
    const fifo = join(at, "fifo")
    execFileSync("mkfifo", [fifo])
    // Were the open to wait for a reader, it would block this thread for good, and the test with it: a watchdog on a
    // thread of its own becomes that reader after 2 s, so that such a regression fails (a refusal without "no reader").
    const watchdog = new Worker(
      `const { openSync, constants } = require("node:fs"); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000); openSync(${JSON.stringify(fifo)}, constants.O_RDONLY | constants.O_NONBLOCK)`,
      { eval: true }
    )
    try {
      assert.strictEqual(refusal(() => writeMarkerFile(fifo, "42 stopped\n", [])), `${fifo} is a FIFO (with no reader), not a regular file`)
    } finally {
      void watchdog.terminate()
    }
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
    try {
      assert.strictEqual(refusal(() => writeMarkerFile(fifo, "42 stopped\n", [])), `${fifo} is a FIFO, not a regular file`)
      // Nothing reached the reader: the writer has gone, and the FIFO is empty.
      assert.strictEqual(readSync(reader, Buffer.alloc(64)), 0)
    } finally {
      closeSync(reader)
    }
  })

  it("a device, a directory, or a link to a file the worker keeps (the journal) is refused, and left as it was", () => {
    const at = dir()
    assert.strictEqual(refusal(() => writeMarkerFile("/dev/null", "x", [])), "/dev/null is a device or another special file, not a regular file")
    const journal = join(at, "outbox.jsonl")
    writeFileSync(journal, '{"op":"pending"}\n')
    symlinkSync(journal, join(at, "exit"))
    assert.strictEqual(refusal(() => writeMarkerFile(join(at, "exit"), "42 stopped\n", [journal])), `${join(at, "exit")} is now ${journal}, which the worker keeps`)
    assert.strictEqual(readFileSync(journal, "utf8"), '{"op":"pending"}\n')
    assert.strictEqual(refusal(() => writeMarkerFile(join(at, "missing", "exit"), "x", [])), "ENOENT")
    assert.strictEqual(refusal(() => writeMarkerFile(at, "x", [])), "EISDIR")
    // The journal named through a link of its own (`OUTBOX_FILE` a symbolic link), the marker linked to its real path.
    const named = join(at, "outbox-link.jsonl")
    symlinkSync(journal, named)
    symlinkSync(journal, join(at, "update"))
    assert.strictEqual(refusal(() => writeMarkerFile(join(at, "update"), "x", [named])), `${join(at, "update")} is now ${named}, which the worker keeps`)
    assert.strictEqual(readFileSync(journal, "utf8"), '{"op":"pending"}\n')
    // A kept path that cannot be looked at any more (a loop of links put there) is not what was opened: written.
    symlinkSync(join(at, "loop"), join(at, "loop"))
    writeMarkerFile(join(at, "fine"), "x", [join(at, "loop")])
    assert.strictEqual(readFileSync(join(at, "fine"), "utf8"), "x")
  })
})
