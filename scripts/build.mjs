// Bundles each entry point into one ESM file in dist/. A bundle starts in a fraction of the time the
// unbundled @effect/platform-node graph takes to import (see docs/performance.md).
import { chmodSync } from "node:fs"
import { build } from "esbuild"

const entryPoints = {
  main: "src/worker/main.ts",
  client: "src/client/main.ts",
  serverless: "src/serverless/main.ts",
  demo: "src/demo/main.ts",
  "examples/redis-consumer": "examples/redis-queue/consumer.ts",
  "examples/redis-dispatcher": "examples/redis-queue/dispatcher.ts",
  "examples/redis-example": "examples/redis-queue/run.ts",
  "examples/autoscale-consumer": "examples/autoscale/consumer.ts",
  "examples/autoscale-example": "examples/autoscale/run.ts"
}

await build({
  entryPoints,
  outdir: "dist",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  // Some dependencies are CommonJS and call require() for Node built-ins.
  // A shebang for the npm `bin` entries.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __nwCreateRequire } from 'node:module'; const require = __nwCreateRequire(import.meta.url);"
  }
})

// The npm `bin` entries run as programs.
for (const bin of ["main", "client", "serverless"]) chmodSync(`dist/${bin}.js`, 0o755)
