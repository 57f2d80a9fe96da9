/**
 * How the boot loaded the worker bundle, handed to the bundle (a separate build) through a global registered
 * symbol, for the start-up line: a rejected cache means a slower start (Node upgraded without a rebuild).
 */
export type CodeCacheUse = "accepted" | "rejected" | "stale" | "damaged" | "none" | "source-maps" | "not-used"

const key = Symbol.for("null-worker.codeCacheUse")

export const announceCodeCacheUse = (use: CodeCacheUse): void => {
  ;(globalThis as Record<symbol, unknown>)[key] = use
}

/** "not-used" when the worker did not start through the boot (in-process tests). */
export const codeCacheUse = (): CodeCacheUse => {
  const use = (globalThis as Record<symbol, unknown>)[key]
  return typeof use === "string" ? (use as CodeCacheUse) : "not-used"
}
