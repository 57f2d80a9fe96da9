/**
 * The state of the local serverless: one endpoint, its workers (real processes), the route requests
 * waiting for a worker, and what the workers report. Routing and scaling decisions come from the pure
 * rules in `scaling.ts`; this service applies them and keeps the books.
 */
import { generateKeyPairSync, randomBytes, sign } from "node:crypto"
import { Clock, Context, Duration, Effect, FiberSet, Option } from "effect"
import { signedMessage } from "../protocol/signedMessage.js"
import { type DeleteRequestsBody, HEARTBEAT_SECONDS, type WorkerStatusBody } from "../protocol/workerStatus.js"
import { stringEqualsSecret } from "../shared/secretEquals.js"
import type { EndpointJob } from "../protocol/endpoint.js"
import { endpointJob } from "./endpointJob.js"
import {
  decide,
  type DisplayState,
  displayState,
  displayStates,
  sdkStatusOf,
  type EndpointParams,
  idleSinceAfter,
  REPORT_GRACE_MS,
  freeableLoad,
  routeTarget,
  SILENCE_LIMIT_MS,
  neverReady,
  START_LIMIT_MS,
  silentTooLong,
  type WaitingRequest,
  type WorkerPhase,
  type WorkerView
} from "./scaling.js"
import { type DropReason, ServerlessMetrics } from "./ServerlessMetrics.js"
import { type RunningProcess, WorkerLauncher } from "./WorkerLauncher.js"
import { WorkerSessions } from "./WorkerSessions.js"
import { boundedOutput } from "../shared/boundedOutput.js"
import { Wakeups } from "../shared/Wakeups.js"
import { monotonicMillis } from "../shared/monotonic.js"
import { printable } from "../shared/printable.js"
import { jsonText } from "../shared/exactJson.js"
import { CALLBACKS_KEPT, keptCallbackBody } from "./callbackSink.js"
import { sidecarExitReason } from "./sidecarExitReason.js"
import { whatItWaitsFor } from "./startingWorker.js"

export interface ServerlessSettings {
  readonly endpointName: string
  /** The user's key (`VAST_API_KEY`) accepted by endpoint lookup. */
  readonly userApiKey: string
  readonly params: EndpointParams
  /** The worker program: `node <workerScript>`. */
  readonly workerScript: string
  /** The sidecar runner: `node <sidecarScript> <command>` (`sidecar.ts`: it stops the sidecar if we die). */
  readonly sidecarScript: string
  /** Seconds between each worker's health checks. */
  readonly healthcheckInterval: number
  /** A command run beside each worker (`sh -c`), e.g. the user's queue consumer; it gets the worker's ports. */
  readonly sidecar: Option.Option<string>
  /** Health URL path the sidecar serves (`BACKEND_HEALTH_URL` = `http://127.0.0.1:<SIDECAR_PORT><path>`). */
  readonly sidecarHealthPath: Option.Option<string>
  /** Print every worker's output. */
  readonly verbose: boolean
}

export class ServerlessConfig extends Context.Tag("serverless/ServerlessConfig")<ServerlessConfig, ServerlessSettings>() {}

/**
 * How long a worker must stay ready before its launch counts as a success. A consumer that crashes on its first job,
 * or a worker that dies just after its first report, would otherwise reset the count and be relaunched every tick.
 */
export const SETTLED_MS = 10_000

/**
 * How long starts wait after `failures` workers in a row errored before they were ready (or soon after,
 * `SETTLED_MS`): nothing after one (it is replaced at once), then 1, 2, 4 … 30 s.
 */
export const failedStartBackoffMs = (failures: number): number => (failures <= 1 ? 0 : Math.min(1000 * 2 ** (failures - 2), 30_000))

interface WorkerRecord {
  readonly id: number
  phase: WorkerPhase
  readonly url: string
  readonly ports: { readonly public: number; readonly http: number; readonly control: number; readonly sidecar: number | null }
  readonly mtoken: string
  curLoad: number
  maxPerf: number
  /** Requests routed here and not yet reflected in a report: when, which, and how much. */
  routed: Array<{
    readonly at: number
    readonly requestIdx: number
    readonly cost: number
    /** The worker's count of requests received once this one has arrived (`num_requests_recieved`). */
    readonly arrivedAt: number
  }>
  /** Its count of requests received in its latest report, and the routes answered with it since. */
  lastReceived: number
  routedSinceReport: number
  /** When its load (reported plus routed) last dropped to zero; null while it has load or is not ready. */
  idleSince: number | null
  readonly startedAt: number
  readyAt: number | null
  /** It has stayed ready `SETTLED_MS` (counted once, when it did). */
  settled: boolean
  errorMsg: string
  lastReportAt: number | null
  exit: string | null
  /** The sidecar's exit code or signal, once it has ended. */
  sidecarExit: string | null
  process: RunningProcess | null
  sidecar: RunningProcess | null
}

interface Waiting extends WaitingRequest {
  lastPollAt: number
  /** How many times it was polled. */
  polls: number
  /** The client connection its latest poll came over, when the client keeps connections open. */
  connection: number | null
}

export interface CallbackRecord {
  readonly at: number
  readonly path: string
  readonly body: unknown
}

/** A route answer: ready (signed `auth_data`) or waiting. */
export type RouteAnswer =
  | { readonly _tag: "Ready"; readonly authData: Record<string, unknown> }
  | { readonly _tag: "Waiting"; readonly body: Record<string, unknown> }

/** A route the worker's reports do not show after this long did not turn into work (e.g. a 429). */
const REPORT_LAG_MS = 1_000
/** Routed load the worker never confirmed is forgotten after this. */
const ROUTED_TTL_MS = 5_000
/**
 * A waiting request that was not polled again for this long was given up by its client: the SDK (and
 * our client) waits at most 5 s between two polls (vast-protocol.md §8.3); 2 s more allow a slow poll.
 */
const WAITING_TTL_MS = 7_000
/**
 * How a time taken on the monotonic clock is shown: as the wall clock's epoch seconds now, beside the times the workers
 * give (their sessions' `expires_at`): a page that subtracted one from the other after a step of the wall clock had
 * shown a 60 s session with 3,660 s left (review 65 #2).
 */
const wallSecondsNow: Effect.Effect<(monotonic: number) => number> = Effect.map(
  Effect.all([Clock.currentTimeMillis, monotonicMillis]),
  ([wall, monotonic]) =>
    (at) =>
      (at + wall - monotonic) / 1000
)

/** The event list and the callback list are bounded: a long-running serverless keeps the newest. */
const EVENTS_KEPT = 100
const EVENTS_SHOWN = 50

export class ControlPlane extends Effect.Service<ControlPlane>()("serverless/ControlPlane", {
  scoped: Effect.gen(function* () {
    const settings = yield* ServerlessConfig
    const launcher = yield* WorkerLauncher
    const metrics = yield* ServerlessMetrics
    const workerSessions = yield* WorkerSessions
    const stopping = yield* FiberSet.make()
    // `--verbose`: every worker's and sidecar's line, as it comes; a reader far behind costs lines, not memory.
    const verboseOutput = boundedOutput(process.stdout)
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
    const publicKeyPem = publicKey.export({ type: "spki", format: "pem" }).toString()
    const endpointApiKey = randomBytes(16).toString("hex")
    // The endpoint's creation as Vast gives it, a date: the wall clock's. Every other time here is for spacing and ages,
    // on the monotonic clock, and shown as the wall clock's (`wallSecondsNow`).
    const createdAt = yield* Clock.currentTimeMillis

    const workers = new Map<number, WorkerRecord>()
    /**
     * Workers in a row that errored before they had been ready `SETTLED_MS`, and when the last of them stopped. A
     * setting that makes every launch fail (a consumer that cannot start, a health path it does not serve) would
     * otherwise have a new worker started every tick: starts wait `failedStartBackoffMs` after the second such failure
     * in a row. The count starts again once a worker launched after the last failure has stayed ready `SETTLED_MS`.
     */
    let failedStarts = 0
    let lastFailedStartAt = 0
    /** Scaling decisions so far, and the one whose stops counted the last failure. */
    let ticks = 0
    let lastFailedTick = -1
    const waiting = new Map<number, Waiting>()
    /** Woken by every report and deletion record a worker sends: a route held for one looks again. */
    const reportsArrived = new Wakeups()
    const callbacks: Array<CallbackRecord> = []
    const events: Array<{ readonly at: number; readonly text: string }> = []
    let nextWorkerId = 1
    let nextRequestIdx = 1
    let nextReqnum = 1
    let deletedRequests = 0
    let callbacksReceived = 0
    let baseUrl = ""

    let eventsTotal = 0
    const log = (text: string, level: "info" | "warning" = "info") =>
      Effect.flatMap(monotonicMillis, (at) => {
        events.push({ at, text })
        eventsTotal += 1
        if (events.length > EVENTS_KEPT) events.shift()
        return level === "warning" ? Effect.logWarning(text) : Effect.logInfo(text)
      })

    const routedLoad = (worker: WorkerRecord) => worker.routed.reduce((sum, entry) => sum + entry.cost, 0)
    const view = (worker: WorkerRecord): WorkerView => ({
      id: worker.id,
      phase: worker.phase,
      curLoad: worker.curLoad,
      maxPerf: worker.maxPerf,
      routedLoad: routedLoad(worker),
      idleSince: worker.idleSince
    })
    const views = () => [...workers.values()].map(view)

    /** Keep `idleSince` in step with the worker's load; call after anything that changes it. */
    const observeLoad = (worker: WorkerRecord, now: number) => {
      if (worker.phase === "ready") worker.idleSince = idleSinceAfter(worker.idleSince, worker.curLoad + routedLoad(worker), now)
    }

    /** Every state, with 0 for those no worker is in. */
    const countsByState = (): Record<DisplayState, number> => {
      const counts: Record<DisplayState, number> = { starting: 0, busy: 0, idle: 0, draining: 0, stopping: 0, errored: 0 }
      for (const worker of workers.values()) counts[displayState(view(worker))] += 1
      return counts
    }

    /** The waiting answer's `status` (worker counts by state, vast-protocol.md §8.3): the states some worker is in. */
    const presentStates = () => {
      const counts = countsByState()
      return Object.fromEntries(displayStates.filter((state) => counts[state] > 0).map((state) => [state, counts[state]]))
    }

    const dropWaiting = (request: Waiting, reason: DropReason) =>
      Effect.gen(function* () {
        waiting.delete(request.requestIdx)
        yield* metrics.requestDropped(reason)
        yield* log(
          `request ${request.requestIdx} dropped: ${reason === "client_gone" ? "its client closed the connection" : `not polled for ${WAITING_TTL_MS / 1000} s`}`
        )
      })

    /** Ready workers that stopped reporting are errored before anything is routed or decided (`silentTooLong`). */
    const noticeSilence = (now: number) =>
      Effect.forEach(
        [...workers.values()].filter((worker) => silentTooLong(worker.phase, worker.lastReportAt, now) || neverReady(worker.phase, worker.startedAt, now)),
        (worker) =>
          Effect.gen(function* () {
            // A worker that never got ready says why in its output (its consumer's health check, most often).
            const waiting = worker.phase === "starting" && worker.process !== null ? whatItWaitsFor(yield* worker.process.tail) : ""
            worker.errorMsg =
              worker.phase === "starting"
                ? `not ready ${START_LIMIT_MS / 1000} s after its start (${worker.lastReportAt === null ? "it never reported" : "it reported, never ready"}${waiting === "" ? "" : `; its last word: ${waiting}`}): replaced`
                : `no report for over ${SILENCE_LIMIT_MS / 1000} s (a worker reports at least every ${HEARTBEAT_SECONDS} s): hung, stopped or cut off`
            worker.phase = "errored"
            yield* log(`w${worker.id} ${worker.errorMsg}`, "warning")
          }),
        { discard: true }
      )

    const signAuth = (url: string) => sign("sha256", Buffer.from(signedMessage(url), "utf8"), privateKey).toString("base64")

    const startWorker = Effect.gen(function* () {
      const id = nextWorkerId++
      const [publicPort, httpPort, controlPort] = [yield* launcher.freePort, yield* launcher.freePort, yield* launcher.freePort]
      const sidecarPort = Option.isSome(settings.sidecar) ? yield* launcher.freePort : null
      const now = yield* monotonicMillis
      const record: WorkerRecord = {
        id,
        phase: "starting",
        url: `http://127.0.0.1:${publicPort}`,
        ports: { public: publicPort, http: httpPort, control: controlPort, sidecar: sidecarPort },
        mtoken: randomBytes(16).toString("hex"),
        curLoad: 0,
        maxPerf: 0,
        routed: [],
        lastReceived: 0,
        routedSinceReport: 0,
        idleSince: null,
        startedAt: now,
        settled: false,
        readyAt: null,
        errorMsg: "",
        lastReportAt: null,
        exit: null,
        sidecarExit: null,
        process: null,
        sidecar: null
      }
      workers.set(id, record)
      const healthUrl = Option.match(settings.sidecarHealthPath, {
        onNone: () => ({}),
        onSome: (path) => (sidecarPort === null ? {} : { BACKEND_HEALTH_URL: `http://127.0.0.1:${sidecarPort}${path}` })
      })
      const workerEnv: Record<string, string> = {
        PATH: process.env["PATH"] ?? "",
        WORKER_PORT: String(publicPort),
        WORKER_HTTP_PORT: String(httpPort),
        NULL_CONTROL_PORT: String(controlPort),
        REPORT_ADDR: baseUrl,
        CONTAINER_ID: String(id),
        MASTER_TOKEN: record.mtoken,
        PUBLIC_IPADDR: "127.0.0.1",
        [`VAST_TCP_PORT_${publicPort}`]: String(publicPort),
        HEALTHCHECK_INTERVAL: String(settings.healthcheckInterval),
        // The launcher kills a worker 5 s after SIGTERM: its drain, callbacks and last report must fit in that.
        DRAIN_TIMEOUT: "1",
        ...healthUrl
      }
      const echo = (name: string) => (line: string) => {
        if (settings.verbose) verboseOutput.write(`[${name}] ${line}\n`)
      }
      yield* log(`w${id} starting on ${record.url}`)
      const launched = yield* Effect.either(
        launcher.launch({ name: `w${id}`, command: process.execPath, args: [settings.workerScript], env: workerEnv }, echo(`w${id}`))
      )
      if (launched._tag === "Left") {
        record.phase = "errored"
        record.errorMsg = launched.left.message
        return
      }
      record.process = launched.right
      if (Option.isSome(settings.sidecar)) {
        const sidecar = yield* Effect.either(
          launcher.launch(
            {
              name: `w${id}/sidecar`,
              command: process.execPath,
              args: [settings.sidecarScript, settings.sidecar.value],
              // The sidecar is the user's program: it inherits the serverless's environment (REDIS_URL, …).
              env: {
                ...process.env,
                ...workerEnv,
                SIDECAR_PORT: String(sidecarPort),
                WORKER_CONTROL_URL: `http://127.0.0.1:${controlPort}`
              }
            },
            echo(`w${id}/sidecar`)
          )
        )
        if (sidecar._tag === "Left") {
          record.phase = "errored"
          record.errorMsg = sidecar.left.message
          yield* log(`w${id} sidecar did not start: ${sidecar.left.message}`)
        } else {
          record.sidecar = sidecar.right
          // As start-vast.sh does on Vast when the consumer exits: a worker whose consumer is gone would take
          // reservations nobody serves, so it is errored, then stopped (its sessions close) and replaced.
          const exited = sidecar.right.exited
          yield* FiberSet.run(
            stopping,
            Effect.gen(function* () {
              const outcome = yield* exited
              record.sidecarExit = outcome
              if (record.phase === "stopping") return
              record.phase = "errored"
              // The line of its output that says why (a missing module, a refused connection), which --verbose alone would show.
              const reason = sidecarExitReason(yield* sidecar.right.tail)
              const why = reason === undefined ? "" : `: ${printable(reason).slice(0, 300)}`
              if (record.errorMsg === "") record.errorMsg = `sidecar exited (${outcome})${why}`
              yield* log(`w${id} sidecar exited (${outcome})${why}: stopping the worker${settings.verbose ? "" : " (--verbose shows its output)"}`, "warning")
            })
          )
        }
      }
      // A worker that dies on its own is errored, then replaced by the scaling rule. One that was ready, reported its
      // drain (`max_perf` 0) and exits 0 stopped on purpose (a signal from outside, `/pyworker/update`): it is
      // stopped, not counted as a failure, and replaced if the load needs it.
      yield* FiberSet.run(
        stopping,
        Effect.gen(function* () {
          const outcome = yield* launched.right.exited
          record.exit = outcome
          if (record.phase === "stopping") return
          if (outcome === "0" && record.phase === "ready" && record.maxPerf <= 0) {
            yield* log(`w${id} exited on its own (0): it drained`)
            yield* metrics.scaled({ action: "stop", reason: "exited" })
            yield* stopWorker(record, "exited after a drain")
          } else {
            record.phase = "errored"
            if (record.errorMsg === "") record.errorMsg = `worker process exited (${outcome})`
            yield* log(`w${id} died (${outcome})`)
          }
        })
      )
    })

    const stopWorker = (record: WorkerRecord, why: string) =>
      Effect.gen(function* () {
        const wasErrored = record.phase === "errored"
        const now = yield* monotonicMillis
        if (wasErrored && (record.readyAt === null || now - record.readyAt < SETTLED_MS)) {
          // Workers stopped in the same tick are one failure: the wait grows with the attempts, not the cold workers.
          if (failedStarts === 0 || ticks !== lastFailedTick) failedStarts++
          lastFailedTick = ticks
          lastFailedStartAt = now
        }
        record.phase = "stopping"
        yield* log(`w${record.id} stopping (${why})`)
        yield* FiberSet.run(
          stopping,
          Effect.gen(function* () {
            if (record.process !== null) yield* record.process.stop
            if (record.sidecar !== null) yield* record.sidecar.stop
            workers.delete(record.id)
            yield* log(`w${record.id} stopped${wasErrored ? " (replaced if the load needs it)" : ""}`)
          })
        )
      })

    const tick = Effect.gen(function* () {
      ticks++
      const now = yield* monotonicMillis
      for (const request of [...waiting.values()]) {
        if (now - request.lastPollAt > WAITING_TTL_MS) yield* dropWaiting(request, "not_polled")
      }
      for (const worker of workers.values()) {
        worker.routed = worker.routed.filter((entry) => now - entry.at < ROUTED_TTL_MS)
        observeLoad(worker, now)
        if (!worker.settled && worker.phase === "ready" && worker.readyAt !== null && now - worker.readyAt >= SETTLED_MS) {
          worker.settled = true
          // A launch made since the last failure works: the count starts again. A worker settled long before says
          // nothing of the launches failing now, and must not keep their back-off at zero.
          if (worker.startedAt >= lastFailedStartAt) failedStarts = 0
        }
      }
      yield* noticeSilence(now)
      const decision = decide(views(), [...waiting.values()], settings.params, now)
      for (const id of decision.stop) {
        const record = workers.get(id)
        if (record === undefined || record.phase === "stopping") continue
        const errored = record.phase === "errored"
        yield* metrics.scaled({ action: "stop", reason: errored ? "errored" : "idle" })
        yield* stopWorker(record, errored ? `errored: ${record.errorMsg}` : "idle past inactivity_timeout")
      }
      if (decision.start > 0 && now < lastFailedStartAt + failedStartBackoffMs(failedStarts)) return
      for (let i = 0; i < decision.start; i++) {
        yield* metrics.scaled({ action: "start", reason: decision.startReason })
        yield* startWorker
      }
    })

    // Said at both ends, so that a Ctrl-C that waits for a slow worker's drain is not silence; not when the serverless
    // never listened (its own failure was said). Once: the program stops them while it still listens (their last
    // reports and callbacks come to it), and the finalizer is there for a stop that did not get that far.
    let stopped = false
    const stopAll = Effect.suspend(() => {
      if (stopped) return Effect.void
      stopped = true
      const all = [...workers.values()]
      const say = (text: string) => (baseUrl === "" ? Effect.void : log(text))
      return say(`stopping: ${all.length} worker(s)${Option.isSome(settings.sidecar) ? " and their sidecars" : ""}`).pipe(
        Effect.zipRight(
          Effect.forEach(
            all,
            (record) => {
              record.phase = "stopping"
              return record.process === null ? Effect.void : record.process.stop
            },
            { concurrency: "unbounded", discard: true }
          )
        ),
        Effect.zipRight(
          Effect.forEach(all, (record) => (record.sidecar === null ? Effect.void : record.sidecar.stop), {
            concurrency: "unbounded",
            discard: true
          })
        ),
        Effect.zipRight(say("stopped"))
      )
    })
    yield* Effect.addFinalizer(() => stopAll)

    return {
      publicKeyPem,
      endpointApiKey,
      /** Stop every worker (and sidecar) in order, once: what the serverless does first when it stops. */
      stopAll,
      /** The serverless's own base URL, once its listener is up (workers report there). */
      setBaseUrl: (url: string) =>
        Effect.sync(() => {
          baseUrl = url
        }),
      /** One scaling decision, applied. */
      tick,

      /** `GET /api/v0/endptjobs/`: the endpoint, for the user's key only. */
      endpoints: (bearer: string) =>
        Effect.sync(() =>
          stringEqualsSecret(bearer, settings.userApiKey)
            ? Option.some<ReadonlyArray<EndpointJob>>([
                endpointJob({
                  id: 1,
                  name: settings.endpointName,
                  apiKey: endpointApiKey,
                  createdAt: createdAt / 1000,
                  params: settings.params
                })
              ])
            : Option.none()
        ),

      /**
       * `POST /route/`: a ready worker's signed `auth_data`, or a waiting answer keeping `request_idx`.
       * `connection` identifies the client connection the poll came over, when the client keeps it
       * open between polls: its closing means the client went away (`connectionClosed`).
       */
      route: (request: {
        readonly endpoint: string
        readonly apiKey: string
        readonly cost: number
        readonly requestIdx: number
        readonly connection: number | null
      }) =>
        Effect.gen(function* () {
          if (request.endpoint !== settings.endpointName || !stringEqualsSecret(request.apiKey, endpointApiKey)) {
            return Option.none<RouteAnswer>()
          }
          let now = yield* monotonicMillis
          yield* noticeSilence(now)
          const requestIdx = request.requestIdx > 0 ? request.requestIdx : nextRequestIdx++
          const previous = waiting.get(requestIdx)
          const since = previous?.since ?? now
          /** "Wait", keeping `request_idx` (vast-protocol.md §8.3). */
          const waitingAnswer = () =>
            Option.some<RouteAnswer>({ _tag: "Waiting", body: { endpoint: settings.endpointName, status: presentStates(), request_idx: requestIdx } })
          const noteWaiting = () =>
            waiting.set(requestIdx, {
              requestIdx,
              cost: request.cost,
              since,
              lastPollAt: now,
              polls: (previous?.polls ?? 0) + 1,
              connection: request.connection
            })
          let target = routeTarget(views(), settings.params)
          // A young request that a busy worker's report of a session's end could free room for is answered when that
          // report comes, within REPORT_GRACE_MS of its first poll: answered "waiting" at once, the SDK's next poll came
          // a second later, though the worker had been free since a few ms after it (sdk51 #2: 6 or 7 of 7 reservations
          // made right after a release).
          const holdUntil = since + REPORT_GRACE_MS
          const couldFree = () => {
            const freeable = freeableLoad(views())
            return freeable > 0 && freeable >= request.cost
          }
          // Held again after a wake whose room another held request took first, for the time left (review 63 #2: the
          // others were told to wait at once, though a second worker's report came a few ms later).
          while (target === undefined && now < holdUntil && couldFree()) {
            // Waiting meanwhile, as a tick sees it (young: it starts no worker yet).
            noteWaiting()
            yield* reportsArrived.until(() => routeTarget(views(), settings.params) !== undefined).pipe(Effect.timeoutOption(Duration.millis(holdUntil - now)))
            now = yield* monotonicMillis
            // Dropped meanwhile (its client went away): not routed, nor waiting again.
            if (!waiting.has(requestIdx)) return waitingAnswer()
            target = routeTarget(views(), settings.params)
          }
          const record = target === undefined ? undefined : workers.get(target.id)
          if (record === undefined) {
            noteWaiting()
            if (previous === undefined) yield* log(`request ${requestIdx} waiting for a worker`)
            yield* metrics.routeAnswered("waiting")
            return waitingAnswer()
          }
          waiting.delete(requestIdx)
          // The same request routed again (its worker refused it with a 429) is no longer load where it went first.
          for (const other of workers.values()) {
            if (other !== record && other.routed.some((entry) => entry.requestIdx === requestIdx)) {
              other.routed = other.routed.filter((entry) => entry.requestIdx !== requestIdx)
              observeLoad(other, now)
            }
          }
          // Each route's arrival is the last report's count and the routes answered since: a route never used holds up
          // only those answered in the same interval between two reports (review 64 #2: counted from a baseline, it had
          // misled every later one while routes kept coming). A create still on its way at a report lets the next
          // interval's first route count as arrived with it, one too early: at worst one more route there and a `429`.
          record.routedSinceReport += 1
          record.routed.push({ at: now, requestIdx, cost: request.cost, arrivedAt: record.lastReceived + record.routedSinceReport })
          observeLoad(record, now)
          const reqnum = nextReqnum++
          yield* metrics.routeAnswered("ready")
          yield* log(`request ${requestIdx} → w${record.id}`)
          return Option.some<RouteAnswer>({
            _tag: "Ready",
            authData: {
              url: record.url,
              signature: signAuth(record.url),
              reqnum,
              request_idx: requestIdx,
              endpoint: settings.endpointName,
              cost: request.cost,
              __request_id: randomBytes(8).toString("hex")
            }
          })
        }),

      /** A client connection closed: the requests whose latest poll came over it are given up. */
      connectionClosed: (connection: number) =>
        Effect.forEach(
          [...waiting.values()].filter((request) => request.connection === connection),
          (request) => dropWaiting(request, "client_gone"),
          { discard: true }
        ),

      /** `POST /worker_status/` from one of our workers. */
      workerStatus: (status: WorkerStatusBody) =>
        Effect.gen(function* () {
          const record = workers.get(status.id)
          const known = record !== undefined && stringEqualsSecret(status.mtoken, record.mtoken)
          yield* metrics.reportReceived(known)
          if (record === undefined || !known) return false
          const now = yield* monotonicMillis
          record.lastReportAt = now
          record.curLoad = status.cur_load
          record.maxPerf = status.max_perf
          // A routed request the report shows is counted in cur_load now; do not count it twice.
          const working = new Set(status.working_request_idxs)
          // The worker counts every request it received or refused: a routed request it has counted and does not name is
          // over, however recent (sdk51 #3: a session opened and closed between two reports counted as load until its
          // deletion record, up to a second, and the next reservation started a spare worker). Unless it refused some: a
          // request refused for want of room is demand, and counts until its deletion record or the lag, as before
          // (over-routing's 429s start a worker).
          const counted = (entry: { readonly arrivedAt: number }) => status.rej_load === 0 && status.num_requests_recieved >= entry.arrivedAt
          record.routed = record.routed.filter((entry) => !working.has(entry.requestIdx) && !counted(entry) && now - entry.at < REPORT_LAG_MS)
          record.lastReceived = status.num_requests_recieved
          record.routedSinceReport = 0
          observeLoad(record, now)
          if (status.error_msg !== "" && record.errorMsg === "") {
            record.errorMsg = status.error_msg
            if (record.phase !== "stopping") record.phase = "errored"
            yield* log(`w${record.id} reports an error: ${status.error_msg}`)
          }
          if (record.phase === "starting" && status.max_perf > 0 && status.error_msg === "") {
            record.phase = "ready"
            record.readyAt = now
            observeLoad(record, now)
            yield* log(`w${record.id} ready after ${((now - record.startedAt) / 1000).toFixed(2)} s`)
          }
          reportsArrived.wakeAll()
          return true
        }),

      /**
       * `POST /delete_requests/`: the records of requests a worker finished or refused. A request routed to it that
       * has one is no longer load there: a session created and closed between two of its reports shows in neither.
       */
      deleteRequests: (body: DeleteRequestsBody) =>
        Effect.gen(function* () {
          const record = workers.get(body.worker_id)
          // Only a worker's own records count: an unknown id or token is refused, as a report with them is.
          if (record === undefined || !stringEqualsSecret(body.mtoken, record.mtoken)) return false
          deletedRequests += body.requests.length
          if (record.routed.length === 0) return true
          const done = new Set(body.requests.map((entry) => entry.request_idx))
          record.routed = record.routed.filter((entry) => !done.has(entry.requestIdx))
          observeLoad(record, yield* monotonicMillis)
          reportsArrived.wakeAll()
          return true
        }),

      /** `POST /callbacks/…`: a sink for `on_close_route` while trying things locally. */
      callback: (path: string, body: unknown) =>
        Effect.gen(function* () {
          const kept = keptCallbackBody(body)
          callbacks.push({ at: yield* monotonicMillis, path, body: kept })
          if (callbacks.length > CALLBACKS_KEPT) callbacks.shift()
          callbacksReceived += 1
          yield* metrics.callbackReceived
          yield* log(`callback ${path}: ${jsonText(kept)}`)
        }),

      /**
       * Everything the status page shows. Each ready worker is asked which sessions it holds (its
       * control port's `GET /sessions`), concurrently; `sessions` is null when it was not asked or did
       * not answer.
       */
      status: Effect.gen(function* () {
        const shown = yield* wallSecondsNow
        const workerList = yield* Effect.forEach(
          [...workers.values()],
          (worker) =>
            Effect.gen(function* () {
              const tail = worker.process === null ? [] : yield* worker.process.tail
              const controlUrl = `http://127.0.0.1:${worker.ports.control}`
              const held = worker.phase === "ready" ? yield* workerSessions.held(controlUrl) : Option.none()
              // Read after the worker was asked: a report meanwhile may have made it idle since a later moment.
              const now = yield* monotonicMillis
              return {
                id: worker.id,
                state: displayState(view(worker)),
                url: worker.url,
                /** Where a consumer on the instance would reach it (`/release`, `/sessions`). */
                control_url: controlUrl,
                pid: worker.process?.pid ?? null,
                sidecar_pid: worker.sidecar?.pid ?? null,
                sidecar_exit: worker.sidecarExit,
                cur_load: worker.curLoad,
                routed_load: routedLoad(worker),
                max_perf: worker.maxPerf,
                sessions: Option.getOrNull(held),
                idle_s: worker.phase === "ready" && worker.idleSince !== null ? (now - worker.idleSince) / 1000 : null,
                error_msg: worker.errorMsg,
                started_at: shown(worker.startedAt),
                ready_at: worker.readyAt === null ? null : shown(worker.readyAt),
                last_report_at: worker.lastReportAt === null ? null : shown(worker.lastReportAt),
                exit: worker.exit,
                // A starting worker's output says what it waits for (its consumer's health check, most often).
                log_tail: worker.phase === "errored" || worker.phase === "starting" ? tail : []
              }
            }),
          { concurrency: "unbounded" }
        )
        // After the workers were asked, for the same reason: a request may have come meanwhile.
        const now = yield* monotonicMillis
        return {
          /** Epoch seconds: when this status was taken. */
          at: shown(now),
          endpoint: { name: settings.endpointName, ...settings.params },
          workers: workerList,
          waiting: [...waiting.values()].map((request) => ({
            request_idx: request.requestIdx,
            cost: request.cost,
            waiting_s: (now - request.since) / 1000,
            polls: request.polls
          })),
          needed_capacity: decide(views(), [...waiting.values()], settings.params, now).neededCapacity,
          deleted_requests: deletedRequests,
          callbacks_received: callbacksReceived,
          /** Oldest first; the newest `CALLBACKS_KEPT`. */
          callbacks: callbacks.map((callback) => ({ ...callback, at: shown(callback.at) })),
          /** Newest first, at most `EVENTS_SHOWN`. */
          events: events
            .slice(-EVENTS_SHOWN)
            .reverse()
            .map((event) => ({ ...event, at: shown(event.at) })),
          events_total: eventsTotal
        }
      }),

      /** `GET /metrics`: the Prometheus text exposition. */
      metricsText: Effect.gen(function* () {
        const now = yield* monotonicMillis
        return yield* metrics.exposition({
          workers: countsByState(),
          waiting: waiting.size,
          neededCapacity: decide(views(), [...waiting.values()], settings.params, now).neededCapacity
        })
      }),
      metricsContentType: metrics.contentType,

      /** `POST /get_endpoint_workers/`. */
      endpointWorkers: Effect.map(wallSecondsNow, (shown) =>
        [...workers.values()].map((worker) => ({
          id: worker.id,
          status: sdkStatusOf(displayState(view(worker))),
          cur_load: worker.curLoad,
          new_load: 0,
          cur_load_rolling_avg: worker.curLoad,
          cur_perf: 0,
          perf: worker.maxPerf,
          measured_perf: worker.maxPerf,
          dlperf: 0,
          reliability: 1,
          reqs_working: worker.curLoad > 0 ? 1 : 0,
          disk_usage: 0,
          loaded_at: worker.readyAt === null ? 0 : shown(worker.readyAt),
          started_at: shown(worker.startedAt)
        }))
      )
    }
  })
}) {}
