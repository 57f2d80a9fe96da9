// Bundles each entry point into one ESM file in dist/. A bundle starts in a fraction of the time the
// unbundled @effect/platform-node graph takes to import (see docs/performance.md).
// The worker is the exception: dist/main.js is a small boot that runs the worker bundle, dist/worker.cjs
// (CommonJS, so that it can be compiled with a V8 code cache), and the cache is made here, last. The boot labels
// the bundle dist/main.js, the program that was run, so the bundle's map is dist/main.js.map: stack traces and
// CPU profiles (../shared/bench/profile-by-package.cjs) map through it.
import { spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { appendFileSync, chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { build } from "esbuild"
import { freePort } from "./freePort.mjs"

const entryPoints = {
  client: "src/client/main.ts",
  serverless: "src/serverless/main.ts",
  sidecar: "src/serverless/sidecar.ts",
  demo: "src/demo/main.ts",
  "examples/redis-consumer": "examples/redis-queue/consumer.ts",
  "examples/redis-dispatcher": "examples/redis-queue/dispatcher.ts",
  "examples/redis-example": "examples/redis-queue/run.ts",
  "examples/autoscale-consumer": "examples/autoscale/consumer.ts",
  "examples/autoscale-example": "examples/autoscale/run.ts",
  "examples/reserve-one": "examples/client-library/reserveOne.ts"
}

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  sourcemap: true,
  minify: true,
  legalComments: "none",
  logLevel: "warning"
}

// The lock the bundles are built against, by content, read now and written once they are: scripts/built.mjs tells a
// lock rewritten as it was (`npm prune`, `npm dedupe`: only its time changed) from one that changed. A build that
// fails leaves none, so a lock changed since still says "run npm install".
const lockHash = existsSync("package-lock.json") ? createHash("sha256").update(readFileSync("package-lock.json")).digest("hex") : null
rmSync("dist/package-lock.sha256", { force: true })

// A shebang for the npm `bin` entries.
const shebang = "#!/usr/bin/env node"

await build({
  ...common,
  entryPoints: { worker: "src/worker/main.ts" },
  outdir: "dist",
  outExtension: { ".js": ".cjs" },
  format: "cjs",
  sourcemap: "external"
})
renameSync("dist/worker.cjs.map", "dist/main.js.map")
appendFileSync("dist/worker.cjs", "//# sourceMappingURL=main.js.map\n")

// The boot is a few lines: readable as built, no map of its own.
await build({
  ...common,
  entryPoints: { main: "src/worker/boot/main.ts" },
  outdir: "dist",
  format: "esm",
  minify: false,
  sourcemap: false,
  banner: { js: shebang }
})

// The programs that take their stop signals through rememberStopSignal start from a boot (src/shared/boot/cliBoot.ts),
// dist/<name>.js, which catches a Ctrl-C while their bundle, dist/<name>.bundle.js, is read (a few tenths of a second
// that ended them in silence before). Not the sidecar nor the Redis consumer: they listen for the signals their own way.
const booted = [
  "client",
  "serverless",
  "demo",
  "examples/redis-dispatcher",
  "examples/redis-example",
  "examples/autoscale-consumer",
  "examples/autoscale-example",
  "examples/reserve-one"
]

await build({
  ...common,
  entryPoints: Object.fromEntries(booted.map((name) => [name, "src/shared/boot/cliBoot.ts"])),
  outdir: "dist",
  format: "esm",
  minify: false,
  sourcemap: false,
  banner: { js: shebang }
})

await build({
  ...common,
  entryPoints: Object.fromEntries(Object.entries(entryPoints).map(([name, source]) => [booted.includes(name) ? `${name}.bundle` : name, source])),
  outdir: "dist",
  format: "esm",
  // Some dependencies are CommonJS and call require() for Node built-ins.
  banner: {
    js: `${shebang}\nimport { createRequire as __nwCreateRequire } from 'node:module'; const require = __nwCreateRequire(import.meta.url);`
  }
})

// The npm `bin` entries run as programs.
for (const bin of ["main", "client", "serverless"]) chmodSync(`dist/${bin}.js`, 0o755)

// The worker's code cache. The boot, started with NULL_WORKER_WRITE_CODE_CACHE=1, writes what V8 compiled when the
// process exits. Best: a real start up to its listeners (on loopback, reports to a closed port), then SIGTERM.
// If that fails, `--version` (module initialisation only: about 25 ms less saved per start). A build with no
// cache still works; the worker then compiles at each start.
rmSync("dist/worker.cjs.cache", { force: true })
// Only PATH and NODE_OPTIONS from this environment: a build on a Vast instance must not pick up the real worker's
// settings (an outbox file, TLS), and V8 accepts a cache only under the flags it was made with.
const writerEnv = {
  PATH: process.env.PATH ?? "",
  ...(process.env.NODE_OPTIONS === undefined ? {} : { NODE_OPTIONS: process.env.NODE_OPTIONS }),
  NULL_WORKER_WRITE_CODE_CACHE: "1",
  // The young generation's cap changes a V8 flag while the worker runs; a cache made under it would be refused.
  YOUNG_GENERATION_MB: "0"
}

const cacheFromAStart = async () => {
  const [workerPort, httpPort, controlPort, closedPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const child = spawn(process.execPath, ["dist/main.js"], {
    env: {
      ...writerEnv,
      WORKER_PORT: String(workerPort),
      WORKER_HTTP_PORT: String(httpPort),
      NULL_CONTROL_PORT: String(controlPort),
      [`VAST_TCP_PORT_${workerPort}`]: String(workerPort),
      REPORT_ADDR: `http://127.0.0.1:${closedPort}`,
      CONTAINER_ID: "0",
      PUBLIC_IPADDR: "127.0.0.1",
      UNSECURED: "true"
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)))
  let output = ""
  let stopping = false
  const onOutput = (chunk) => {
    output += chunk
    // Once: a second SIGTERM after the worker's own handler is gone would kill it before the cache is written.
    if (!stopping && output.includes("public API listening")) (stopping = true), child.kill("SIGTERM")
  }
  child.stdout.on("data", onOutput)
  child.stderr.on("data", (chunk) => (output += chunk))
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
  const code = await exited
  clearTimeout(timer)
  if (code !== 0) console.warn(`build: the code-cache start ended with ${code}:\n${output}`)
  return code === 0 && existsSync("dist/worker.cjs.cache")
}

if (!(await cacheFromAStart())) {
  rmSync("dist/worker.cjs.cache", { force: true })
  const moduleInit = spawnSync(process.execPath, ["dist/main.js", "--version"], { env: writerEnv, encoding: "utf8" })
  if (moduleInit.status !== 0) console.warn(`build: no code cache for dist/worker.cjs (${moduleInit.stderr.trim() || `exit ${moduleInit.status}`})`)
}

if (lockHash !== null) writeFileSync("dist/package-lock.sha256", `${lockHash}\n`)
