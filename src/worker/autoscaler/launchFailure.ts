/**
 * The launch-failure beacon (vast-protocol.md §6.5): a worker that cannot start reports why to the
 * autoscaler every 10 s until it is stopped. It needs only `REPORT_ADDR` and `CONTAINER_ID`; the
 * rest of the environment may be what is broken. Without them there is nobody to tell, and the
 * process exits 1.
 */
import { HttpClient } from "@effect/platform"
import { Config, Data, Effect, Either, LogLevel, Option, Redacted } from "effect"
import { containerId, masterToken, publicIp, reportAddrs, workerUrlOf } from "../config/WorkerConfig.js"
import { port } from "../../shared/decimalConfig.js"
import { jsonPostFromHttpClient } from "./jsonPost.js"
import { framework, makeAddressCooldown, postWithFailover } from "./postWithFailover.js"
import { errorStatus } from "../../protocol/workerStatus.js"
import { describeCause } from "../../shared/causeLine.js"
import { redactUrl } from "../../shared/redactUrl.js"
import { makeThrottledLog } from "../../shared/throttledLog.js"

export const LAUNCH_FAILURE_INTERVAL = "10 seconds"

export class LaunchFailed extends Data.TaggedError("LaunchFailed")<{ readonly message: string }> {}

/** `http(s)://PUBLIC_IPADDR:VAST_TCP_PORT_<WORKER_PORT>` when those are set, else "". */
const workerUrl = Effect.gen(function* () {
  const workerPort = yield* port("WORKER_PORT")
  const host = yield* publicIp
  const mapped = yield* port(`VAST_TCP_PORT_${workerPort}`)
  const ssl = yield* Config.string("USE_SSL").pipe(Config.withDefault(""))
  return workerUrlOf(ssl === "true", host, mapped)
}).pipe(Effect.orElseSucceed(() => ""))

/**
 * Why the launch failed, in one line for `error_msg` (the full cause is logged locally): nothing in a stack
 * trace is something the autoscaler can act on.
 */
export const describeLaunchFailure = describeCause

export const reportLaunchFailure = (reason: string): Effect.Effect<never, LaunchFailed, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const target = yield* Effect.either(Config.all({ reportAddrs, containerId, masterToken }))
    if (Either.isLeft(target)) {
      // Most often someone trying the worker outside Vast: where its variables come from, and where to go instead
      // (newcomer 35 #8).
      const onVast = yield* Effect.orElseSucceed(Config.option(Config.string("CONTAINER_ID")), () => Option.none())
      if (Option.isNone(onVast)) {
        yield* Effect.logInfo(
          "not on a Vast instance (CONTAINER_ID is unset): Vast sets CONTAINER_ID, PUBLIC_IPADDR, REPORT_ADDR and MASTER_TOKEN there; to try the worker on this machine, run `npm run demo`, or see the README's \"Running a worker by hand\"; `node dist/main.js --help` lists every variable"
        )
      }
      return yield* new LaunchFailed({ message: reason })
    }
    const post = jsonPostFromHttpClient(yield* HttpClient.HttpClient)
    const body = errorStatus(
      { id: target.right.containerId, mtoken: Redacted.value(target.right.masterToken), url: yield* workerUrl },
      reason
    )
    // As on Vast, where the autoscaler then replaces the instance: said so, since a worker in a terminal seems to hang.
    yield* Effect.logInfo(
      `reporting the launch failure to ${target.right.reportAddrs.map(redactUrl).join(", ")} every 10 s until stopped (Ctrl-C or SIGTERM); the worker serves nothing: fix the cause above and start it again`
    )
    // An address that hangs delays one beacon in five minutes, not every one.
    const cooldown = makeAddressCooldown()
    // A beacon nobody takes is said as a running worker's refused report is: once, then at most once a minute.
    const throttled = makeThrottledLog()
    for (;;) {
      const outcome = yield* postWithFailover(post, target.right.reportAddrs, "/worker_status/", JSON.stringify(body), framework, cooldown)
      yield* outcome._tag === "Refused"
        ? throttled.log(LogLevel.Warning, "beacon", "autoscaler did not accept the launch failure's /worker_status/", { causes: outcome.causes.join("; ") })
        : throttled.reset("beacon")
      yield* Effect.sleep(LAUNCH_FAILURE_INTERVAL)
    }
  })
