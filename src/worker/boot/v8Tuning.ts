/**
 * V8 tuning for the worker, applied before the worker bundle is compiled (the boot's first import): V8 accepts the
 * bundle's code cache only under the flags it was made with, and the build makes it with these.
 *
 * The interrupt budget decides how much bytecode a function runs before V8 considers optimizing it. With
 * Node 20's default (66 KiB) the session path — Effect's fiber runtime, xstate's transition, Schema — stays in
 * the interpreter for thousands of requests; a worker that serves a few hundred sessions an hour never warms up.
 * At 16 KiB the in-process create → end cycle over its first 2,500 runs fell from 114 to 77 µs (best of 4,
 * docs/performance.md). Steady-state speed is unchanged.
 */
import { setFlagsFromString } from "node:v8"

setFlagsFromString("--interrupt-budget=16384")
