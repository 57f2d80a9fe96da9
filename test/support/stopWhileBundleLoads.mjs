// Preloaded (`node --import`): the program gets STOP_SIGNAL (default SIGINT) the moment the loader starts reading its
// bundle (`dist/<name>.bundle.js`), as a Ctrl-C pressed while a command-line program starts would.
import { register } from "node:module"

register("./stopWhileBundleLoadsHooks.mjs", import.meta.url, { data: { signal: process.env.STOP_SIGNAL ?? "SIGINT" } })
