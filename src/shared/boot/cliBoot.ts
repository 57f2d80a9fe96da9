/**
 * The first file of each command-line program (`dist/client.js`, `dist/demo.js`, …): stop signals are caught before the
 * program's bundle (`dist/<name>.bundle.js`, beside this file) is read, which takes a few tenths of a second; the
 * program takes what was caught once its own handlers are on (`rememberStopSignal`).
 */
import { basename } from "node:path"
import { fileURLToPath } from "node:url"
import { prepareProcess } from "../earlyProcess.js"

prepareProcess()

const self = fileURLToPath(import.meta.url)
await import(new URL(`./${basename(self, ".js")}.bundle.js`, import.meta.url).href)
