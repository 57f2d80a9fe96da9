/**
 * The worker bundle compiled with a V8 code cache.
 *
 * Most of a cold start is V8 parsing and compiling the bundle's functions as Effect's and Schema's modules
 * initialise. `npm run build` starts the worker once, up to its listeners, and keeps the code V8 compiled
 * (`worker.cjs.cache`, beside the bundle); a start that finds a cache made by the same Node and V8 flags skips
 * that work (docs/performance.md, "Start-up"). `vm.Script` takes a cache where `require` and `import` do not
 * (Node 20 has no compile cache for modules), so the bundle is CommonJS and run here the way `require` would.
 *
 * A cache V8 rejects (another Node version, other V8 flags) only costs the time it saves: the bundle compiles as
 * usual. V8 checks a cache against its source by length only, so the cache file starts with the SHA-256 of the
 * bundle it was made from, and a cache of any other bundle (one edited or replaced after the build) is not used. Nor
 * does Node 20's V8 check the cached code itself: a cache damaged on disk crashed every start (SIGSEGV, SIGTRAP) or ran
 * damaged code (probe 58 #2: 3 and 9 of 12 single-bit flips), so the SHA-256 of V8's data follows, and a cache that
 * does not match it is not used (the hash costs 1–6 ms of a start).
 * Source maps (`--enable-source-maps`) are not applied to `vm` scripts, so a process that asks for them loads
 * the bundle with `require`, readable stack traces first.
 */
import { createHash } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { createRequire, Module } from "node:module"
import { dirname } from "node:path"
import { Script } from "node:vm"
import { sha256 } from "../../shared/sha256.js"
import { type CodeCacheUse, announceCodeCacheUse } from "./codeCacheUse.js"

export interface BundleFiles {
  /** The CommonJS bundle, an absolute path. */
  readonly bundle: string
  /** Its code cache. */
  readonly cache: string
  /** The file name stack traces and CPU profiles show for the bundle's code (the program that was run). */
  readonly label: string
}

export const bundleFiles = (bundle: string, label: string): BundleFiles => ({ bundle, cache: `${bundle}.cache`, label })

const DIGEST_BYTES = 32

const digestOf = (data: Uint8Array): Buffer => createHash("sha256").update(data).digest()

const readFile = (file: string): Buffer | undefined => {
  try {
    return readFileSync(file)
  } catch {
    return undefined
  }
}

/** The cache made from this very source, if the file holds one whole: digest of the source, digest of V8's data, the data. */
const cacheFor = (source: string, file: Buffer | undefined): Buffer | "stale" | "damaged" | undefined => {
  if (file === undefined) return undefined
  if (file.length <= DIGEST_BYTES || !sha256(source).equals(file.subarray(0, DIGEST_BYTES))) return "stale"
  // Made from this bundle, and cut short or changed since.
  if (file.length <= 2 * DIGEST_BYTES) return "damaged"
  const data = file.subarray(2 * DIGEST_BYTES)
  return digestOf(data).equals(file.subarray(DIGEST_BYTES, 2 * DIGEST_BYTES)) ? data : "damaged"
}

const compile = (files: BundleFiles, source: string, cachedData?: Buffer): Script =>
  new Script(Module.wrap(source), {
    filename: files.label,
    ...(cachedData === undefined ? {} : { cachedData })
  })

type ModuleWrapper = (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void

/** Runs the compiled bundle as `require` would run a CommonJS module. */
const run = (script: Script, files: BundleFiles): void => {
  const wrapper: ModuleWrapper = script.runInThisContext()
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
  const source = readFileSync(files.bundle, "utf8")
  const cache = cacheFor(source, readFile(files.cache))
  const cachedData = cache === "stale" || cache === "damaged" ? undefined : cache
  const script = compile(files, source, cachedData)
  const use: CodeCacheUse =
    cache === "stale" || cache === "damaged" ? cache : cachedData === undefined ? "none" : script.cachedDataRejected === true ? "rejected" : "accepted"
  announceCodeCacheUse(use)
  run(script, files)
}

/**
 * Runs the bundle and writes its cache as the process exits, with the code V8 compiled until then. The build
 * starts the worker this way and stops it once it listens (scripts/build.mjs).
 */
export const writeCache = (files: BundleFiles): void => {
  const source = readFileSync(files.bundle, "utf8")
  const script = compile(files, source)
  process.once("exit", () => {
    const data = script.createCachedData()
    writeFileSync(files.cache, Buffer.concat([sha256(source), digestOf(data), data]))
  })
  run(script, files)
}
