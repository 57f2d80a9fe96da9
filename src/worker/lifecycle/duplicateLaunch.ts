/**
 * A second start beside a null worker that already serves this instance (a duplicate launch: a supervisor's restart
 * racing the first, a template's command run twice). Reporting from it, under the instance's `CONTAINER_ID`, would tell
 * the autoscaler that the healthy worker is not ready, or broken; so it is found before anything is built, by asking
 * the configured control port, and again after any launch failure (two started in the same moment both pass the first
 * look: the one that loses a port or the journal's lock finds the other serving then; probe 55 #1).
 */
import { connect } from "node:net"
import { HttpClient } from "@effect/platform"
import { Effect } from "effect"
import { SessionsAnswer } from "../../protocol/control.js"
import { boundedJson } from "../../shared/boundedBody.js"
import { controlPortSetting } from "../config/WorkerConfig.js"

/** Whether something accepts a connection on the loopback `port` (refused, or no answer within 2 s: no). */
const accepts = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = connect(port, "127.0.0.1")
    const done = (open: boolean) => {
      socket.destroy()
      resume(Effect.succeed(open))
    }
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeoutTo({ duration: "2 seconds", onSuccess: (open) => open, onTimeout: () => false }))

/**
 * Whether another null worker answers on the control port `port`, and whether it is draining (a predecessor on its way
 * out) or serving. Nothing listening, or something else: `none`.
 */
const holderOf = (port: number) =>
  Effect.gen(function* () {
    // Nothing listening, the usual start, is known from a refused connection, without an HTTP request.
    if (!(yield* accepts(port))) return "none" as const
    const client = yield* HttpClient.HttpClient
    const answer = yield* client.get(`http://127.0.0.1:${port}/sessions`).pipe(
      // Whatever holds the port answers: read within the bound every answer from another process gets.
      Effect.flatMap(boundedJson(SessionsAnswer)),
      Effect.scoped,
      Effect.timeout("2 seconds")
    )
    return answer.draining ? ("draining" as const) : ("serving" as const)
  }).pipe(Effect.orElseSucceed(() => "none" as const))

/** The configured control port, or null when the setting is bad (the launch failure says so). */
const configuredControlPort = Effect.orElseSucceed(controlPortSetting, () => null)

/**
 * A launch that failed may be a duplicate beside another null worker serving this same instance. Reporting an error then
 * would mark the healthy worker's `CONTAINER_ID` as broken. `contended`: it failed at what the other holds (a port, the
 * journal's lock), so one draining counts too; any other failure is this launch's own, and is reported unless one
 * serves (review 61 #3: a successor with a bad certificate, started while its predecessor drained, exited unreported).
 */
export const anotherWorkerServes = (contended: boolean) =>
  Effect.flatMap(configuredControlPort, (port) =>
    port === null ? Effect.succeed(false) : Effect.map(holderOf(port), (holder) => holder === "serving" || (contended && holder === "draining"))
  )

/**
 * A second start beside a worker that serves this instance (not one draining, whose ports a successor waits for)
 * stops before it binds or reports anything: its reports, under the instance's id, would tell the autoscaler the
 * healthy worker is not ready.
 */
export const refuseDuplicate = Effect.gen(function* () {
  const port = yield* configuredControlPort
  if (port === null || (yield* holderOf(port)) !== "serving") return
  yield* Effect.logError(`another null worker already serves this instance (it answers on NULL_CONTROL_PORT ${port}): not starting, not reporting; exiting (a second worker on one machine needs its own NULL_CONTROL_PORT)`)
  return yield* Effect.die(new Error("duplicate worker"))
})
