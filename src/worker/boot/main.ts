/**
 * `node dist/main.js`: V8 tuned first, stop signals caught (`earlyProcess.ts`), then the worker bundle (`dist/worker.cjs`, composed in
 * `src/worker/main.ts`) run with its code cache. `npm run build` makes the cache by starting this file with
 * `NULL_WORKER_WRITE_CODE_CACHE=1` (scripts/build.mjs).
 */
import "./v8Tuning.js"
import { fileURLToPath } from "node:url"
import { bundleFiles, runBundle, writeCache } from "./codeCache.js"
import { prepareProcess } from "../../shared/earlyProcess.js"
import { quitOnSigquitAsPid1 } from "../../shared/endBySignal.js"

prepareProcess()
quitOnSigquitAsPid1()

// Labelled as this file, whose map (dist/main.js.map) is the bundle's.
const files = bundleFiles(fileURLToPath(new URL("./worker.cjs", import.meta.url)), fileURLToPath(import.meta.url))
if (process.env["NULL_WORKER_WRITE_CODE_CACHE"] === "1") writeCache(files)
else runBundle(files)
