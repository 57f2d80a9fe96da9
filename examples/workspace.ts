/**
 * A runner's temporary directory (its Redis server's files), removed when the runner stops. A runner stopped outright
 * (`kill -9`, a power cut) cannot remove its own, so each directory names the process that made it, and the next
 * runner removes those whose process is gone. A live one, or one of another process namespace (a container sharing
 * `/tmp`, where that pid means another process), is kept; one naming no process in this form (being made now, or left
 * by an older version, which wrote none or a bare pid) is kept until it has not changed for a day.
 */
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Clock, Effect, type Scope } from "effect"
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

/** How long a directory naming no process this code can check is kept after its last change. */
export const UNNAMED_KEPT_MS = 24 * 60 * 60 * 1000

/** Who made `dir`: a process of this namespace (in the form this code writes), another namespace's, or nobody it can tell. */
const ownerOf = (dir: string, namespace: string): { readonly pid: number } | "elsewhere" | "unnamed" => {
  try {
    const [, pid, named] = /^([1-9]\d*) (.*)$/.exec(readFileSync(join(dir, OWNER_FILE), "utf8")) ?? []
    if (pid === undefined) return "unnamed"
    return named === namespace ? { pid: Number(pid) } : "elsewhere"
  } catch {
    return "unnamed"
  }
}

/** Whether `dir` has not changed for `UNNAMED_KEPT_MS` at `now` (epoch ms). */
const unchangedForADay = (dir: string, now: number): boolean => {
  try {
    return now - statSync(dir).mtimeMs >= UNNAMED_KEPT_MS
  } catch {
    return false
  }
}

/** Removes the directories under `root` named `prefix…` whose runner is gone (at `now`, epoch ms); returns their paths. */
export const removeAbandoned = (prefix: string, root: string, now: number): ReadonlyArray<string> => {
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
    if (owner === "elsewhere") continue
    if (owner === "unnamed" ? !unchangedForADay(dir, now) : processExists(owner.pid)) continue
    try {
      rmSync(dir, { recursive: true, force: true })
      removed.push(dir)
    } catch {
      // Not ours to remove after all (another user's, say): left, as a live one is.
    }
  }
  return removed
}

/** A fresh directory `root/prefix…` for this runner, removed when the scope closes; abandoned ones are removed first. */
export const exampleWorkspace = (prefix: string, root: string = tmpdir()): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        removeAbandoned(prefix, root, now)
        const dir = mkdtempSync(join(root, prefix))
        writeFileSync(join(dir, OWNER_FILE), `${process.pid} ${pidNamespace()}`)
        return dir
      })
    ),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
