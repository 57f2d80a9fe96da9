/**
 * A runner's temporary directory (its Redis server's files), removed when the runner stops. A runner stopped outright
 * (`kill -9`, a power cut) cannot remove its own, so each directory names the process that made it, and the next
 * runner removes those whose process is gone. A directory naming no process yet (being made now), a live one, or one
 * of another process namespace (a container sharing `/tmp`, where that pid means another process) is kept.
 */
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { processExists } from "../src/shared/processExists.js"

/** The file, in each directory, holding its runner's process id. */
export const OWNER_FILE = "runner.pid"

/** This process's pid namespace (`pid:[4026531836]`), or "" where there is no `/proc`. */
const pidNamespace = (): string => {
  try {
    return readlinkSync("/proc/self/ns/pid")
  } catch {
    return ""
  }
}

/** The process that made `dir`, if it names one of this namespace, in the form this code writes (`<pid> <namespace>`). */
const ownerOf = (dir: string, namespace: string): number | null => {
  try {
    const [, pid, named] = /^([1-9]\d*) (.*)$/.exec(readFileSync(join(dir, OWNER_FILE), "utf8")) ?? []
    return pid !== undefined && named === namespace ? Number(pid) : null
  } catch {
    return null
  }
}

/** Removes the directories under `root` named `prefix…` whose runner is gone; returns their paths. */
export const removeAbandoned = (prefix: string, root: string = tmpdir()): ReadonlyArray<string> => {
  let names: ReadonlyArray<string>
  try {
    names = readdirSync(root)
  } catch {
    return []
  }
  const namespace = pidNamespace()
  const removed: Array<string> = []
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const dir = join(root, name)
    const owner = ownerOf(dir, namespace)
    if (owner === null || processExists(owner)) continue
    try {
      rmSync(dir, { recursive: true, force: true })
      removed.push(dir)
    } catch {
      // Not ours to remove after all (another user's, say): left, as an unnamed one is.
    }
  }
  return removed
}

/** A fresh directory `root/prefix…` for this runner, removed when the scope closes; abandoned ones are removed first. */
export const exampleWorkspace = (prefix: string, root: string = tmpdir()): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      removeAbandoned(prefix, root)
      const dir = mkdtempSync(join(root, prefix))
      writeFileSync(join(dir, OWNER_FILE), `${process.pid} ${pidNamespace()}`)
      return dir
    }),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
