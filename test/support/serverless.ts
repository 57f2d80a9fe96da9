import { fileURLToPath } from "node:url"
import { Schema } from "effect"
import { type Spawned, spawnProcess } from "./process.js"

export const serverlessJs = fileURLToPath(new URL("../../dist/serverless.js", import.meta.url))

const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** The parts of `/status` the tests read (the rest is ignored). */
const Status = Schema.Struct({
  waiting: Schema.Array(Schema.Struct({ request_idx: Schema.Number, polls: Schema.Number })),
  workers: Schema.Array(
    Schema.Struct({
      id: Schema.Number,
      state: Schema.String,
      url: Schema.String,
      control_url: Schema.String,
      pid: Schema.NullOr(Schema.Number),
      sidecar_pid: Schema.NullOr(Schema.Number),
      sidecar_exit: Schema.NullOr(Schema.String),
      error_msg: Schema.String,
      cur_load: Schema.Number,
      sessions: Schema.NullOr(Schema.Array(Schema.Struct({ session_id: Schema.String })))
    })
  ),
  events: Schema.Array(Schema.Struct({ text: Schema.String })),
  callbacks: Schema.Array(Schema.Struct({ path: Schema.String, body: JsonObject }))
})
export type Status = typeof Status.Type
const decodeStatus = Schema.decodeUnknownSync(Status)
const decodeEndpoints = Schema.decodeUnknownSync(Schema.Struct({ results: Schema.Array(Schema.Struct({ api_key: Schema.String })) }))

/** `GET /status` of the serverless at `url`, decoded. */
export const statusOf = async (url: string): Promise<Status> => decodeStatus(await (await fetch(`${url}/status`)).json())

export interface RunningServerless {
  readonly url: string
  /** The endpoint's own key, for `/route/`. */
  readonly endpointKey: string
  readonly process: Spawned
  status(): Promise<Status>
  /**
   * SIGTERM, then wait for the exit: the serverless stops its workers first. (A SIGKILL would leave
   * them running, reporting to nobody.)
   */
  stop(): Promise<void>
}

/**
 * `node dist/serverless.js` on a free port (user key `k` unless given, endpoint `null-local`), with short timings;
 * `args` are added. The caller stops it with `stop()`.
 */
export const startServerless = async (args: ReadonlyArray<string>, { apiKey = "k" }: { readonly apiKey?: string } = {}): Promise<RunningServerless> => {
  const spawned = spawnProcess(
    process.execPath,
    [serverlessJs, "--port", "0", "--api-key", apiKey, "--tick", "0.1", "--healthcheck-interval", "0.2", ...args],
    {}
  )
  const [, url = ""] = await spawned.waitFor(/serverless listening on (http:\/\/[0-9.:]+) \(status page/, 15_000)
  const lookup = await fetch(`${url}/api/v0/endptjobs/?client_id=me&api_key=${encodeURIComponent(apiKey)}`)
  const [endpoint] = decodeEndpoints(await lookup.json()).results
  return {
    url,
    endpointKey: endpoint?.api_key ?? "",
    process: spawned,
    status: () => statusOf(url),
    stop: async () => {
      if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) return
      spawned.child.kill("SIGTERM")
      await spawned.exited
    }
  }
}

/** Poll `probe` every 50 ms until it gives a value, for at most `ms`. */
export const until = async <A>(what: string, probe: () => Promise<A | undefined> | A | undefined, ms = 20_000): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    const found = await probe()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
