/** The example runners' temporary directories: each names its runner, and one a killed runner left is removed by the next. */
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { exampleWorkspace, OWNER_FILE, removeAbandoned, UNNAMED_KEPT_MS } from "../../examples/workspace.js"

const PREFIX = "null-worker-test-"
const NAMESPACE = readlinkSync("/proc/self/ns/pid")
/** What a runner of this namespace writes. */
const owner = (pid: number) => `${pid} ${NAMESPACE}`

/** The id of a process that has exited (and been reaped). */
const goneProcessId = (): number => {
  const done = spawnSync(process.execPath, ["-e", ""])
  assert.strictEqual(done.status, 0)
  return done.pid
}

/** A directory `root/name` naming `owner` (or none). */
const leftBehind = (root: string, name: string, owner: string | null): string => {
  const dir = join(root, name)
  mkdirSync(dir)
  writeFileSync(join(dir, "appendonly.aof"), "")
  if (owner !== null) writeFileSync(join(dir, OWNER_FILE), owner)
  return dir
}

describe("exampleWorkspace", () => {
  it.effect("makes a directory naming this process, removed when the scope closes", () =>
    Effect.gen(function* () {
      const root = mkdtempSync(join(tmpdir(), "workspace-test-"))
      const scope = yield* Scope.make()
      const dir = yield* Scope.extend(exampleWorkspace(PREFIX, root), scope)
      assert.isTrue(dir.startsWith(join(root, PREFIX)), dir)
      assert.strictEqual(readFileSync(join(dir, OWNER_FILE), "utf8"), owner(process.pid))
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(existsSync(dir))
      rmSync(root, { recursive: true, force: true })
    })
  )

  it.effect("removes the directories of runners that are gone, and keeps live runners', unnamed ones, another namespace's and others' names", () =>
    Effect.gen(function* () {
      const root = mkdtempSync(join(tmpdir(), "workspace-test-"))
      const gone = leftBehind(root, `${PREFIX}gone`, owner(goneProcessId()))
      const live = leftBehind(root, `${PREFIX}live`, owner(process.pid))
      const unnamed = leftBehind(root, `${PREFIX}unnamed`, null)
      const garbled = leftBehind(root, `${PREFIX}garbled`, "12abc")
      // A pid of another namespace (a container sharing /tmp) may be alive there.
      const elsewhere = leftBehind(root, `${PREFIX}elsewhere`, `${goneProcessId()} pid:[1]`)
      const other = leftBehind(root, "something-else", owner(goneProcessId()))
      const dir = yield* exampleWorkspace(PREFIX, root).pipe(Effect.scoped)
      assert.isFalse(existsSync(gone))
      for (const kept of [live, unnamed, garbled, elsewhere, other]) assert.isTrue(existsSync(kept), kept)
      assert.isFalse(existsSync(dir))
      assert.sameMembers(readdirSync(root), [`${PREFIX}live`, `${PREFIX}unnamed`, `${PREFIX}garbled`, `${PREFIX}elsewhere`, "something-else"])
      // Nothing left to remove the second time; a root that cannot be read removes nothing.
      assert.deepStrictEqual(removeAbandoned(PREFIX, root, 0), [])
      assert.deepStrictEqual(removeAbandoned(PREFIX, join(root, "missing"), 0), [])
      rmSync(root, { recursive: true, force: true })
    })
  )

  it("removes one naming no process it can check (none, a bare pid as older versions wrote, garbled) once unchanged for a day; never another namespace's (newcomer 29 #4)", () => {
    const root = mkdtempSync(join(tmpdir(), "workspace-test-"))
    const named = [
      ["unnamed", null],
      ["bare", String(goneProcessId())],
      ["garbled", "12abc"],
      ["elsewhere", `${goneProcessId()} pid:[1]`],
      ["live", owner(process.pid)]
    ] as const
    const now = Date.now()
    const old = new Date(now - UNNAMED_KEPT_MS)
    for (const [name, written] of named) {
      leftBehind(root, `${PREFIX}${name}-old`, written)
      utimesSync(join(root, `${PREFIX}${name}-old`), old, old)
      leftBehind(root, `${PREFIX}${name}-new`, written)
    }
    assert.sameMembers(
      removeAbandoned(PREFIX, root, now).map((dir) => dir.slice(root.length + 1)),
      ["unnamed", "bare", "garbled"].map((name) => `${PREFIX}${name}-old`)
    )
    assert.sameMembers(readdirSync(root), [
      ...["unnamed", "bare", "garbled", "elsewhere", "live"].map((name) => `${PREFIX}${name}-new`),
      `${PREFIX}elsewhere-old`,
      `${PREFIX}live-old`
    ])
    rmSync(root, { recursive: true, force: true })
  })
})
