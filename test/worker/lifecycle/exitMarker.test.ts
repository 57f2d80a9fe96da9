/**
 * The exit marker a deliberate stop leaves for scripts/start-vast.sh: the pid and `stopped`, replacing whatever
 * was there; nothing without a file; a file that cannot be written is a warning, never a failed stop.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { writeExitMarker } from "../../../src/worker/lifecycle/exitMarker.js"
import { capturedLogs } from "../../support/logs.js"

const withDir = <A, E>(use: (dir: string) => Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "exit-marker-"))),
    use,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

describe("writeExitMarker", () => {
  it.effect("writes the pid and `stopped`, replacing an earlier run's marker", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const file = join(dir, "exit")
        writeFileSync(file, "1 stopped\nleft from an earlier run\n")
        yield* writeExitMarker(Option.some(file), 4242)
        assert.strictEqual(readFileSync(file, "utf8"), "4242 stopped\n")
      })
    )
  )

  it.effect("writes nothing when no file is named", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const logs = capturedLogs()
        yield* writeExitMarker(Option.none(), 4242).pipe(Effect.provide(logs.layer))
        assert.isFalse(existsSync(join(dir, "exit")))
        assert.deepStrictEqual(logs.lines, [])
      })
    )
  )

  it.effect("a FIFO or a link to the journal put at the path while the worker ran: a warning naming why, the stop goes on, the journal untouched", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const logs = capturedLogs()
        const fifo = join(dir, "fifo")
        execFileSync("mkfifo", [fifo])
        const journal = join(dir, "outbox.jsonl")
        writeFileSync(journal, '{"op":"pending"}\n')
        symlinkSync(journal, join(dir, "exit"))
        yield* writeExitMarker(Option.some(fifo), 4242, [journal]).pipe(Effect.provide(logs.layer))
        yield* writeExitMarker(Option.some(join(dir, "exit")), 4242, [journal]).pipe(Effect.provide(logs.layer))
        const warning = "could not write the exit marker: a supervisor may take this stop for a kill"
        assert.deepStrictEqual(logs.lines, [
          { level: "WARN", message: [warning, { file: fifo, cause: `${fifo} is a FIFO (with no reader), not a regular file` }] },
          { level: "WARN", message: [warning, { file: join(dir, "exit"), cause: `${join(dir, "exit")} is now ${journal}, which the worker keeps` }] }
        ])
        assert.strictEqual(readFileSync(journal, "utf8"), '{"op":"pending"}\n')
      })
    )
  )

  it.effect("a file that cannot be written is a warning naming it and why, and the stop goes on", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const logs = capturedLogs()
        const file = join(dir, "missing", "exit")
        yield* writeExitMarker(Option.some(file), 4242).pipe(Effect.provide(logs.layer))
        assert.deepStrictEqual(logs.lines, [
          {
            level: "WARN",
            message: ["could not write the exit marker: a supervisor may take this stop for a kill", { file, cause: "ENOENT" }]
          }
        ])
      })
    )
  )
})
