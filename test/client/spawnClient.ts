import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Schema } from "effect"
import { childEnv } from "../support/process.js"

export const clientJs = fileURLToPath(new URL("../../dist/client.js", import.meta.url))

const JsonEvent = Schema.parseJson(
  Schema.Struct({ event: Schema.String, at: Schema.String }, Schema.Record({ key: Schema.String, value: Schema.Unknown }))
)
export type JsonEvent = typeof JsonEvent.Type
const decodeEvent = Schema.decodeUnknownSync(JsonEvent)

export interface SpawnedClient {
  readonly child: ChildProcess
  stdout(): string
  stderr(): string
  /** Every stdout line, decoded as an event (so a line that is not one fails the test). */
  events(): ReadonlyArray<JsonEvent>
  /** Resolves once `count` events named `name` were printed; rejects if the process exits first or `ms` pass. */
  waitForEvents(name: string, count?: number, ms?: number): Promise<ReadonlyArray<JsonEvent>>
  exited: Promise<number | null>
}

/** `node dist/client.js ...args` with only PATH, the run's TMPDIR and `env` in its environment. */
export const spawnClient = (args: ReadonlyArray<string>, env: Record<string, string>): SpawnedClient => {
  const child = spawn(process.execPath, [clientJs, ...args], {
    env: { ...childEnv(), ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let out = ""
  let err = ""
  const listeners = new Set<() => void>()
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString("utf8")
    for (const listener of listeners) listener()
  })
  child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const events = () =>
    out
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => decodeEvent(line))
  const waitForEvents = (name: string, count = 1, ms = 15_000) =>
    new Promise<ReadonlyArray<JsonEvent>>((resolve, reject) => {
      const check = () => {
        const found = events().filter((event) => event.event === name)
        if (found.length >= count) {
          listeners.delete(check)
          clearTimeout(timer)
          resolve(found)
        }
      }
      const timer = setTimeout(() => {
        listeners.delete(check)
        reject(new Error(`timed out waiting for ${count} "${name}" event(s); stdout:\n${out}\nstderr:\n${err}`))
      }, ms)
      void exited.then(() => {
        listeners.delete(check)
        clearTimeout(timer)
        if (events().filter((event) => event.event === name).length < count) {
          reject(new Error(`exited before ${count} "${name}" event(s); stdout:\n${out}\nstderr:\n${err}`))
        }
      })
      listeners.add(check)
      check()
    })
  return { child, stdout: () => out, stderr: () => err, events, waitForEvents, exited }
}
