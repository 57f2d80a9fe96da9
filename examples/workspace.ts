/**
 * A runner's temporary directory (its Redis server's files), removed when the runner stops. A runner stopped outright
 * (`kill -9`, a power cut) cannot remove its own, so each directory names the process that made it, and the next
 * runner removes those whose process is gone. A directory naming no process yet (being made now) or a live one is kept.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope } from "effect"

/** The file, in each directory, holding its runner's process id. */
export const OWNER_FILE = "runner.pid"

/** Whether process `pid` exists: signal 0 checks without sending (EPERM: it exists, another user's). */
const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The process that made `dir`, or null when it names none (yet) in a form this code wrote. */
const ownerOf = (dir: string): number | null => {
  try {
    const text = readFileSync(join(dir, OWNER_FILE), "utf8")
    return /^[1-9]\d*$/.test(text) ? Number(text) : null
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
  const removed: Array<string> = []
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const dir = join(root, name)
    const owner = ownerOf(dir)
    if (owner === null || isRunning(owner)) continue
    rmSync(dir, { recursive: true, force: true })
    removed.push(dir)
  }
  return removed
}

/** A fresh directory `root/prefix…` for this runner, removed when the scope closes; abandoned ones are removed first. */
export const exampleWorkspace = (prefix: string, root: string = tmpdir()): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      removeAbandoned(prefix, root)
      const dir = mkdtempSync(join(root, prefix))
      writeFileSync(join(dir, OWNER_FILE), String(process.pid))
      return dir
    }),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
