/** The watch of the launcher that started a program (`NULL_PARENT_PID`): only a process id is watched; junk is said. */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Logger, LogLevel, Schedule } from "effect"
import { whenOrphaned } from "../../src/shared/orphanWatch.js"

/** What the watch did with `NULL_PARENT_PID` set to `value` (or unset): the lines it logged, and the parent it declared gone. */
const watch = (value: string | undefined) =>
  Effect.gen(function* () {
    const logged: Array<string> = []
    const orphanedBy: Array<number> = []
    // The watch is a fiber of the scope: it gets its turns before the scope closes.
    yield* whenOrphaned((parent) => Effect.sync(() => void orphanedBy.push(parent))).pipe(
      Effect.zipRight(Effect.repeatN(Effect.yieldNow(), 10)),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(value === undefined ? [] : [["NULL_PARENT_PID", value]]))),
      Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ logLevel, message }) => void logged.push(`${logLevel.label} ${String(message)}`)))),
      Logger.withMinimumLogLevel(LogLevel.Debug),
      Effect.scoped
    )
    return { logged, orphanedBy }
  })

/** The largest process id Linux can give. */
const MAX_PID = 4_194_303

/** A process id in range that no process has now: the highest free one (this machine's `pid_max` is usually lower). */
const noSuchPid = (): number => {
  for (let pid = MAX_PID; pid > 1; pid--) {
    try {
      process.kill(pid, 0)
    } catch (error) {
      if (error instanceof Error && "code" in error && error.code === "ESRCH") return pid
    }
  }
  throw new Error("every process id is taken")
}

/** The state letter of `/proc/<pid>/stat` (after the command name, which may hold `)`), or null once it is gone. */
const stateOf = (pid: number): string | null => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1")
    return stat.charAt(stat.lastIndexOf(")") + 2)
  } catch {
    return null
  }
}

/**
 * A process that has exited and is not reaped: a child of a shell's that exits a moment later, its parent (the shell, replaced
 * by `sleep`) never waiting for it. Its pid, for the scope's length (the holder is killed at its close, and init reaps
 * both).
 */
const zombie = Effect.acquireRelease(
  Effect.async<{ readonly pid: number; readonly holder: ReturnType<typeof spawn> }, Error>((resume) => {
    const holder = spawn("sh", ["-c", "sleep 0.1 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] })
    holder.stdout.once("data", (data: Buffer) => resume(Effect.succeed({ pid: Number(String(data).trim()), holder })))
    holder.once("error", (error) => resume(Effect.fail(error)))
  }),
  ({ holder }) => Effect.sync(() => holder.kill("SIGKILL"))
).pipe(
  Effect.tap(({ pid }) =>
    Effect.sync(() => stateOf(pid)).pipe(Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (state) => state === "Z" }), Effect.timeout("5 seconds"))
  ),
  Effect.map(({ pid }) => pid)
)

describe("whenOrphaned (NULL_PARENT_PID)", () => {
  it.effect("unset: nothing watched, nothing said", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* watch(undefined), { logged: [], orphanedBy: [] })
    })
  )

  it.effect("not a process id (letters, hex, 0, negative, empty, above Linux's largest pid): one warning naming the variable, nothing watched", () =>
    Effect.gen(function* () {
      for (const junk of ["abc", "0x1", "0", "-1", "", "1.5", String(MAX_PID + 1), "2147483648", "9999999999", "99999999999"]) {
        assert.deepStrictEqual(
          yield* watch(junk),
          { logged: [`WARN NULL_PARENT_PID is not a process id (a whole number from 1 to ${MAX_PID}): no parent is watched`], orphanedBy: [] },
          junk
        )
      }
    })
  )

  it.effect("a parent already gone at the start: declared gone at once; this process's own parent: watched, not gone", () =>
    Effect.gen(function* () {
      const gone = noSuchPid()
      assert.deepStrictEqual(yield* watch(String(gone)), { logged: [], orphanedBy: [gone] })
      assert.deepStrictEqual(yield* watch(` ${process.ppid}\n`), { logged: [], orphanedBy: [] })
    })
  )

  it.effect("a live process that is not this one's parent (the variable inherited through a shell): not watched, said at debug level", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* watch(String(process.pid)), { logged: ["DEBUG NULL_PARENT_PID is not this process's parent: not watching it"], orphanedBy: [] })
    })
  )

  it.live(
    "a parent that has exited but is not reaped yet (a zombie, its own parent slow to wait for it): gone, declared at once (a worker the serverless had just started, killed outright, ran on for good)",
    () =>
      Effect.gen(function* () {
        const pid = yield* zombie
        assert.strictEqual(stateOf(pid), "Z")
        assert.deepStrictEqual(yield* watch(String(pid)), { logged: [], orphanedBy: [pid] })
      }).pipe(Effect.scoped)
  )
})
