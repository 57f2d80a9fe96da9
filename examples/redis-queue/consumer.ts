/**
 * The queue consumer that runs beside each null worker on an instance.
 *
 * It asks its worker's control server which session is open, takes that session's job from Redis, does
 * the work, stores the result, and releases the worker (`POST /release`), which closes the session and
 * fires the dispatcher's callback. It serves `/health` for the worker's health check (`BACKEND_HEALTH_URL`):
 * healthy while its worker's control server answers (a consumer pointed at the wrong control port would otherwise let
 * its worker take sessions nobody serves). Not while Redis is down: an outage hits every instance alike, a new one
 * would reach the same Redis, and an unhealthy worker is replaced with the sessions it holds; the consumer waits.
 *
 * Written as plain async TypeScript on purpose: a consumer can be any program in any language, and this
 * one is meant to be read and copied.
 *
 * Environment: REDIS_URL, WORKER_CONTROL_URL (e.g. http://127.0.0.1:18999), SIDECAR_PORT (health
 * port), WORK_MS (simulated work per job, default 200; a job's own `work_ms` wins).
 */
import { createServer } from "node:http"
import { declaresBody } from "../../src/shared/declaresBody.js"
import { Redis } from "ioredis"
import { sayConnectionTrouble } from "./connectionTrouble.js"
import { type Job, processedKey, resultKey, sessionQueue } from "./keys.js"
import { handledEnvProgramArgs } from "../../src/shared/envProgramArgs.js"
import { repeatedReason } from "../../src/shared/repeatedReason.js"
import { listenFailure } from "../../src/shared/listenFailure.js"
import { isRedisTarget, REDIS_TARGET_RULE } from "../../src/shared/redisTarget.js"

const help = `Usage: node dist/examples/redis-consumer.js   (run beside a null worker, e.g. the local serverless's --sidecar)

Takes the job bound to its worker's open session from Redis, works (a sleep), stores the result and releases the
worker. Serves /health on SIDECAR_PORT for the worker's BACKEND_HEALTH_URL: healthy while the worker's control
server answers at WORKER_CONTROL_URL (a Redis outage is waited out, not reported: every instance would fail alike).

Environment:
  REDIS_URL             Redis (default redis://127.0.0.1:6379)
  WORKER_CONTROL_URL    its worker's control server (default http://127.0.0.1:18999; follow NULL_CONTROL_PORT)
  SIDECAR_PORT          the /health port (default 9090)
  WORK_MS               simulated work per job, in ms (default 200; a job's own work_ms wins)
`
if (handledEnvProgramArgs(process.argv.slice(2), "redis example consumer", help)) process.exit()

/** A whole-number setting in decimal digits within `[min, max]`, or its default; anything else stops the consumer in one line naming it. */
const wholeSetting = (name: string, fallback: number, min: number, max: number, rule: string): number => {
  const text = process.env[name]
  if (text === undefined) return fallback
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN
  if (Number.isSafeInteger(value) && value >= min && value <= max) return value
  process.stderr.write(`consumer: ${name}: ${text.trim() === "" ? "is set but empty" : rule}\n`)
  process.exit(1)
}

const redisUrl = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379"
if (!isRedisTarget(redisUrl)) {
  process.stderr.write(`consumer: REDIS_URL: ${REDIS_TARGET_RULE}\n`)
  process.exit(1)
}
const controlUrl = process.env["WORKER_CONTROL_URL"] ?? "http://127.0.0.1:18999"
const healthPort = wholeSetting("SIDECAR_PORT", 9090, 1, 65535, "must be a port number from 1 to 65535")
const workMs = wholeSetting("WORK_MS", 200, 0, 3_600_000, "must be a whole number of milliseconds, from 0 to 3600000")

// ioredis reconnects by itself and resends commands that were in flight when Redis went away.
const redis = new Redis(redisUrl, { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(50 * times, 1000) })
// Blocking pops get their own connection, so they never hold up other commands.
const blocking = redis.duplicate()
sayConnectionTrouble(redis, redisUrl, (text) => process.stdout.write(`consumer: redis: ${text}\n`))
blocking.on("error", () => undefined)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const log = (text: string) => process.stdout.write(`consumer: ${text}\n`)

/** Whether the last look at the worker's control server got an answer. */
let controlAnswers = false

const health = createServer((request, response) => {
  // A body is never read here: the answer closes its connection, so Node does not parse one without bound (probe 42 L2).
  if (declaresBody(request.headers)) response.shouldKeepAlive = false
  const problem = request.url !== "/health" ? "not found" : !controlAnswers ? "worker control server unreachable" : null
  const note = redis.status === "ready" ? "ok" : "ok (redis unavailable: waiting for it)"
  response.writeHead(problem === null ? 200 : problem === "not found" ? 404 : 503, { "content-type": "text/plain" }).end(problem ?? note)
})
// A port it cannot take stops the consumer in one line naming the variable: the worker would check nothing else.
health.once("error", (error) => {
  process.stderr.write(`consumer: SIDECAR_PORT: ${listenFailure(error, "127.0.0.1", healthPort, "SIDECAR_PORT")}\n`)
  process.exit(1)
})
health.listen(healthPort, "127.0.0.1", () => log(`health on :${healthPort}, worker control ${controlUrl}`))

/** The most a worker's answer may take, in time and in bytes: a peer without bounds could hang or fill this loop. */
const ANSWER_TIMEOUT_MS = 5_000
const MAX_ANSWER_BYTES = 1024 * 1024

/** `GET url` as JSON, read within the bounds above (stopping at the first byte over). */
const getJson = async (url: string): Promise<unknown> => {
  const response = await fetch(url, { signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) })
  if (response.body === null) return null
  const chunks: Array<Uint8Array> = []
  let bytes = 0
  for await (const chunk of response.body) {
    bytes += chunk.length
    if (bytes > MAX_ANSWER_BYTES) throw new Error(`${url}: the answer is larger than ${MAX_ANSWER_BYTES} bytes`)
    chunks.push(chunk)
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8"))
}

/** Why a look at the control server failed, said once while it lasts (Node's errno when there is one). */
const controlTrouble = repeatedReason()
/** Whether the control server has answered once: what its silence means differs before and after. */
let everAnswered = false
const reasonOf = (error: unknown): string => {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined
  return typeof cause?.code === "string" ? cause.code : error instanceof Error ? error.message : String(error)
}

/** The session the worker holds, if any: its id, which the release names. */
interface OpenSession {
  readonly id: string
}

const openSession = async (): Promise<OpenSession | undefined> => {
  try {
    const body = (await getJson(`${controlUrl}/sessions`)) as { sessions?: Array<{ session_id?: unknown }> } | null
    if (controlTrouble.clear()) log(`worker control ${controlUrl} answers${everAnswered ? " again" : ""}`)
    controlAnswers = true
    everAnswered = true
    const id = body?.sessions?.[0]?.session_id
    return typeof id === "string" ? { id } : undefined
  } catch (error) {
    controlAnswers = false
    const reason = reasonOf(error)
    if (controlTrouble.isNew(reason)) {
      // Before the worker has ever answered, the usual case is a worker still starting (start-vast.sh starts the
      // consumer first); a wrong address is the other, and looks the same.
      log(
        everAnswered
          ? `the worker's control server at ${controlUrl}/sessions stopped answering (${reason}); /health answers 503 until it answers again`
          : `waiting for the worker's control server at ${controlUrl}/sessions (${reason}); /health answers 503 until it answers (still waiting once the worker is up? is WORKER_CONTROL_URL the worker's NULL_CONTROL_PORT?)`
      )
    }
    return undefined
  }
}

const work = async (session: OpenSession, job: Job) => {
  log(`session ${session.id}: working on ${job.job_id}`)
  await sleep(job.work_ms ?? workMs)
  const result = JSON.stringify({ job_id: job.job_id, output: job.input.toUpperCase(), session_id: session.id })
  // NX: a job that ran twice (its first consumer died after writing) keeps its first result.
  await redis.set(resultKey(job.job_id), result, "NX")
  await redis.rpush(processedKey(job.job_id), session.id)
  // By session id: if this session ended meanwhile (its lifetime ran out during a long job or a Redis stall, or its
  // worker process was restarted) and the worker took a newer one, a bare release would close that one, which this
  // consumer never served. Then 409: too late. Not by generation: a restarted worker process counts from 1 again.
  const released = await fetch(`${controlUrl}/release`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ session_id: session.id }),
    signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS)
  })
  log(`session ${session.id}: ${job.job_id} done, release → ${released.status}${released.status === 409 ? " (the session had already ended)" : ""}`)
}

let stopping = false
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    stopping = true
    health.close()
    redis.disconnect()
    blocking.disconnect()
  })
}

while (!stopping) {
  const session = await openSession()
  if (session === undefined) {
    await sleep(100)
    continue
  }
  try {
    const popped = await blocking.blpop(sessionQueue(session.id), 1)
    if (popped !== null) await work(session, JSON.parse(popped[1]) as Job)
  } catch (error) {
    if (!stopping) log(`job error: ${String(error)}`)
    await sleep(100)
  }
}
