/**
 * The worker bundle compiled with a V8 code cache.
 *
 * Most of a cold start is V8 parsing and compiling the bundle's functions as Effect's and Schema's modules
 * initialise. `npm run build` runs the bundle's module initialisation once and keeps the code V8 compiled
 * (`worker.cjs.cache`, beside the bundle); a start that finds a cache made by the same Node and V8 flags skips
 * that work (docs/performance.md, "Start-up"). `vm.Script` takes a cache where `require` and `import` do not
 * (Node 20 has no compile cache for modules), so the bundle is CommonJS and run here the way `require` would.
 *
 * A cache V8 rejects (another Node version, other V8 flags) only costs the time it saves: the bundle compiles as
 * usual. Source maps (`--enable-source-maps`) are not applied to `vm` scripts, so a process that asks for them
 * loads the bundle with `require`, readable stack traces first.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { createRequire, Module } from "node:module"
import { dirname } from "node:path"
import { Script } from "node:vm"
import { announceCodeCacheUse } from "./codeCacheUse.js"

export interface BundleFiles {
  /** The CommonJS bundle, an absolute path. */
  readonly bundle: string
  /** Its code cache. */
  readonly cache: string
  /** The file name stack traces and CPU profiles show for the bundle's code (the program that was run). */
  readonly label: string
}

export const bundleFiles = (bundle: string, label: string): BundleFiles => ({ bundle, cache: `${bundle}.cache`, label })

const readCache = (file: string): Buffer | undefined => {
  try {
    return readFileSync(file)
  } catch {
    return undefined
  }
}

const compile = (files: BundleFiles, cachedData?: Buffer): Script =>
  new Script(Module.wrap(readFileSync(files.bundle, "utf8")), {
    filename: files.label,
    ...(cachedData === undefined ? {} : { cachedData })
  })

type ModuleWrapper = (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void

/** Runs the compiled bundle as `require` would run a CommonJS module. */
const run = (script: Script, files: BundleFiles): void => {
  const wrapper = script.runInThisContext() as ModuleWrapper
  const module = { exports: {} }
  wrapper.call(module.exports, module.exports, createRequire(files.bundle), module, files.bundle, dirname(files.bundle))
}

/** Runs the worker bundle, with its code cache when V8 accepts it. */
export const runBundle = (files: BundleFiles): void => {
  if (process.sourceMapsEnabled) {
    announceCodeCacheUse("source-maps")
    createRequire(files.bundle)(files.bundle)
    return
  }
  const cachedData = readCache(files.cache)
  const script = compile(files, cachedData)
  announceCodeCacheUse(cachedData === undefined ? "none" : script.cachedDataRejected === true ? "rejected" : "accepted")
  run(script, files)
}

/**
 * Runs the bundle and writes its cache as the process exits, with the code V8 compiled until then. The build
 * starts the worker this way and stops it once it listens (scripts/build.mjs).
 */
export const writeCache = (files: BundleFiles): void => {
  const script = compile(files)
  process.once("exit", () => writeFileSync(files.cache, script.createCachedData()))
  run(script, files)
}
