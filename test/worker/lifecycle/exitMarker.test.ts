/**
 * The exit marker a deliberate stop leaves for scripts/start-vast.sh: the pid and `stopped`, replacing whatever
 * was there; nothing without a file; a file that cannot be written is a warning, never a failed stop.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
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
