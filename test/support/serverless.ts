import { fileURLToPath } from "node:url"
import { Schema } from "effect"
import { type Spawned, spawnProcess } from "./process.js"

export const serverlessJs = fileURLToPath(new URL("../../dist/serverless.js", import.meta.url))

/** The parts of `/status` the tests read (the rest is ignored). */
const Status = Schema.Struct({
  waiting: Schema.Array(Schema.Struct({ request_idx: Schema.Number })),
  workers: Schema.Array(Schema.Struct({ id: Schema.Number, state: Schema.String })),
  events: Schema.Array(Schema.Struct({ text: Schema.String })),
  callbacks: Schema.Array(Schema.Struct({ path: Schema.String, body: Schema.Unknown }))
})
export type Status = typeof Status.Type
const decodeStatus = Schema.decodeUnknownSync(Status)

export interface RunningServerless {
  readonly url: string
  readonly process: Spawned
  status(): Promise<Status>
}

/**
 * `node dist/serverless.js` on a free port (user key `k`, endpoint `null-local`), with short timings;
 * `args` are added. The caller stops it (push `process` to a `tracked()` list).
 */
export const startServerless = async (args: ReadonlyArray<string>): Promise<RunningServerless> => {
  const spawned = spawnProcess(
    process.execPath,
    [serverlessJs, "--port", "0", "--api-key", "k", "--tick", "0.1", "--healthcheck-interval", "0.2", ...args],
    {}
  )
  const [, url = ""] = await spawned.waitFor(/serverless listening on (http:\/\/[0-9.:]+) \(status page/, 15_000)
  return {
    url,
    process: spawned,
    status: async () => decodeStatus(await (await fetch(`${url}/status`)).json())
  }
}

/** Poll `probe` every 50 ms until it gives a value, for at most `ms`. */
export const until = async <A>(what: string, probe: () => Promise<A | undefined>, ms = 20_000): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    const found = await probe()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
