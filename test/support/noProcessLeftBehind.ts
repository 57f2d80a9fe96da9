/** Setup file of every test file: what `spawnProcess` started and a failed test left running is killed at the file's end. */
import { afterAll } from "vitest"
import { killLeftovers } from "./process.js"

afterAll(killLeftovers)
