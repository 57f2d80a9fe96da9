/**
 * The client library, used from a checkout (the package has no library entry point): reserve one worker for a
 * job, keep the session alive while the job runs, and end it. What `endpoint.session(cost, lifetime)` is in
 * Vast's Python SDK. Built by `npm run build`: `VAST_API_KEY=… node dist/examples/reserve-one.js` (`VAST_ENDPOINT`,
 * `JOB_TIME`, and `VAST_WEBSERVER_URL`/`VAST_AUTOSCALER_URL` for the local serverless).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Config, Effect, Fiber, Layer, Schedule } from "effect"
import { VastClient } from "../../src/client/VastClient.js"

const job = Effect.gen(function* () {
  const vast = yield* VastClient
  const endpoint = yield* vast.findEndpoint(yield* Config.string("VAST_ENDPOINT").pipe(Config.withDefault("my-null-endpoint")))
  // Routes through the autoscaler until a worker takes the session (a full worker's 429 routes again).
  const session = yield* vast.reserve({
    endpoint,
    cost: 100,
    lifetime: 600,
    onCloseRoute: null, // or your callback URL: the worker posts {…payload, session_id, close_reason} there
    onClosePayload: { job_id: "j-1" },
    timeout: "5 minutes"
  })
  yield* Effect.logInfo(`session ${session.sessionId} on ${session.url}`)
  // While the job runs, a /ping every lifetime/3 keeps the session open.
  const keepAlive = yield* vast.ping(session).pipe(Effect.repeat(Schedule.spaced("200 seconds")), Effect.fork)
  yield* Effect.sleep(yield* Config.duration("JOB_TIME").pipe(Config.withDefault("10 seconds"))) // the job
  yield* Fiber.interrupt(keepAlive)
  yield* vast.endSession(session) // or let the consumer on the instance POST 127.0.0.1:18999/release
})

// Vast's own URLs unless told otherwise (the local serverless: both http://127.0.0.1:8080).
const client = Layer.unwrapEffect(
  Effect.map(
    Config.all({
      apiKey: Config.redacted("VAST_API_KEY"),
      webserverUrl: Config.string("VAST_WEBSERVER_URL").pipe(Config.withDefault("https://console.vast.ai")),
      autoscalerUrl: Config.string("VAST_AUTOSCALER_URL").pipe(Config.withDefault("https://run.vast.ai"))
    }),
    VastClient.layer
  )
).pipe(Layer.provide(NodeHttpClient.layerUndici))

job.pipe(Effect.provide(client), NodeRuntime.runMain)
