/**
 * The worker's boot (dist/main.js) runs the worker bundle with the V8 code cache the build made, and still starts
 * when the cache is missing, made by another V8, or when source maps are asked for. The start-up line says which.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { childEnv, mainJs, spawnProcess } from "../support/process.js"
import { authData, autoscalerPerTest, processes, request, workerEnv } from "../support/workerProcess.js"

const autoscaler = autoscalerPerTest()

/** A copy of the built worker (boot and bundle, no cache) in a directory of its own. */
const copy = mkdtempSync(join(tmpdir(), "null-worker-boot-"))
for (const file of ["main.js", "main.js.map", "worker.cjs"]) copyFileSync(join(dirname(mainJs), file), join(copy, file))
afterAll(() => rmSync(copy, { recursive: true, force: true }))
const copiedCache = join(copy, "worker.cjs.cache")

/** Starts the worker from `main` and answers with what its start-up line says of the code cache. */
const start = async (main: string, nodeArgs: ReadonlyArray<string> = []) => {
  const { env, ports } = await workerEnv(autoscaler())
  const worker = spawnProcess(process.execPath, [...nodeArgs, main], env)
  processes.push(worker)
  const [, started, use] = await worker.waitFor(/message="([Ww]orker started)".* code_cache=(\S+)/, 20_000)
  return { use, started, publicUrl: `http://127.0.0.1:${ports.public}` }
}

describe("the worker's code cache", () => {
  it("the build's cache is accepted", async () => {
    expect((await start(mainJs)).use).toBe("accepted")
  })

  it("a boot with NULL_WORKER_WRITE_CODE_CACHE=1 writes a cache the next start accepts", async () => {
    rmSync(copiedCache, { force: true })
    expect((await start(join(copy, "main.js"))).use).toBe("none")
    expect(existsSync(copiedCache)).toBe(false)
    const version = execFileSync(process.execPath, [join(copy, "main.js"), "--version"], {
      env: { ...childEnv(), NULL_WORKER_WRITE_CODE_CACHE: "1" },
      encoding: "utf8"
    })
    expect(version).toMatch(/^null-worker \d/)
    expect(existsSync(copiedCache)).toBe(true)
    expect((await start(join(copy, "main.js"))).use).toBe("accepted")
  })

  it("a cache file that is not a cache is not used: the worker starts and serves", async () => {
    writeFileSync(copiedCache, Buffer.alloc(4096, 7))
    const { use, publicUrl } = await start(join(copy, "main.js"))
    expect(use).toBe("stale")
    expect((await request(`${publicUrl}/session/create`, { body: { auth_data: authData(), payload: { lifetime: 60 } } })).status).toBe(201)
  })

  it("a cache made from this bundle that V8 refuses (other Node, other flags) costs only time", async () => {
    const bundle = readFileSync(join(copy, "worker.cjs"), "utf8")
    const data = Buffer.alloc(4096, 7)
    writeFileSync(copiedCache, Buffer.concat([createHash("sha256").update(bundle, "utf8").digest(), createHash("sha256").update(data).digest(), data]))
    const { use, publicUrl } = await start(join(copy, "main.js"))
    expect(use).toBe("rejected")
    expect((await request(`${publicUrl}/session/create`, { body: { auth_data: authData(), payload: { lifetime: 60 } } })).status).toBe(201)
  })

  it("a cache damaged on disk after the build (its data no longer its digest's) is not used: the worker starts and serves (probe 58 #2: it crashed every start)", async () => {
    const built = readFileSync(join(dirname(mainJs), "worker.cjs.cache"))
    const flipped = (at: number) => {
      const damaged = Buffer.from(built)
      damaged[at] = damaged[at]! ^ 0x10
      return damaged
    }
    // A bit in its middle, its last, and the file cut short after the bundle's digest.
    for (const damaged of [flipped(built.length >> 1), flipped(built.length - 1), built.subarray(0, 40)]) {
      writeFileSync(copiedCache, damaged)
      const { use, publicUrl } = await start(join(copy, "main.js"))
      expect(use).toBe("damaged")
      expect((await request(`${publicUrl}/session/create`, { body: { auth_data: authData(), payload: { lifetime: 60 } } })).status).toBe(201)
    }
  })

  it("a bundle changed after its cache was made runs as changed: V8 alone would run the old code, as it checks only the length", () => {
    rmSync(copiedCache, { force: true })
    const version = (env: Record<string, string> = {}) =>
      execFileSync(process.execPath, [join(copy, "main.js"), "--version"], { env: { ...childEnv(), ...env }, encoding: "utf8" })
    version({ NULL_WORKER_WRITE_CODE_CACHE: "1" })
    const bundle = readFileSync(join(copy, "worker.cjs"), "utf8")
    // The program's name for --version is passed by top-level code, so its bytecode is in the cache: the same length, other text.
    const edited = bundle.replace('argv.slice(2),"null-worker"', 'argv.slice(2),"Null-worker"')
    expect(edited.length === bundle.length && edited !== bundle).toBe(true)
    writeFileSync(join(copy, "worker.cjs"), edited)
    try {
      expect(version()).toMatch(/^Null-worker \d/)
    } finally {
      writeFileSync(join(copy, "worker.cjs"), bundle)
    }
  })

  it("--enable-source-maps loads the bundle with require, for readable stack traces", async () => {
    expect((await start(join(copy, "main.js"), ["--enable-source-maps"])).use).toBe("source-maps")
  })
})
