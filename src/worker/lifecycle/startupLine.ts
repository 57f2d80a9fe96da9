/**
 * One line at start-up with the effective configuration, secrets left out, so an operator can see what the
 * worker runs with; and a loud warning when signatures are not checked.
 */
import { Effect, Option, Redacted } from "effect"
import { redactUrl } from "../../shared/redactUrl.js"
import { codeCacheUse } from "../boot/codeCacheUse.js"
import type { WorkerSettings } from "../config/WorkerConfig.js"
import { VERSION } from "../../shared/version.js"
import { describeHelperPriority, type HelperPriority } from "./helperThreads.js"
import { describeYoungGenerationCap, v8Heap, type YoungGenerationCap } from "./youngGeneration.js"

/** `youngGenerationNamed`: `YOUNG_GENERATION_MB` was set (not its default), so that it is said when Node's own option wins. */
export const startupLine = (config: WorkerSettings, helpers: HelperPriority, youngGeneration: YoungGenerationCap, youngGenerationNamed = false) =>
  Effect.gen(function* () {
    yield* Effect.logInfo("worker started", {
      version: VERSION,
      pid: process.pid,
      worker_url: config.workerUrl,
      worker_port: config.workerPort,
      worker_http_port: config.workerHttpPort,
      control_port: config.controlPort,
      report_addr: config.reportAddrs.map(redactUrl).join(","),
      container_id: config.containerId,
      master_token: Redacted.value(config.masterToken) === "" ? "unset" : "set",
      use_ssl: config.useSsl,
      unsecured: config.unsecured,
      backend_health_url: Option.match(config.backendHealthUrl, { onNone: () => "none (stub /health served)", onSome: redactUrl }),
      max_sessions: config.maxSessions,
      max_session_seconds: Option.getOrElse(config.maxSessionSeconds, () => "none"),
      drain_timeout: config.drainTimeoutSeconds,
      health_failure_threshold: config.healthFailureThreshold,
      health_startup_grace: config.healthStartupGraceSeconds,
      outbox_file: Option.getOrElse(config.outboxFile, () => "none"),
      exit_file: Option.getOrElse(config.exitFile, () => "none"),
      log_format: config.logFormat,
      log_level: config.logLevel,
      code_cache: codeCacheUse(),
      helper_thread_nice: describeHelperPriority(helpers),
      young_generation: describeYoungGenerationCap(youngGeneration, v8Heap.youngBytes())
    })
    for (const warning of config.warnings) yield* Effect.logWarning(warning)
    if (youngGenerationNamed && youngGeneration._tag === "Operator") {
      yield* Effect.logWarning(
        "YOUNG_GENERATION_MB is set, but Node was given a semi-space option (on its command line or in NODE_OPTIONS): that option sizes the young generation, and YOUNG_GENERATION_MB is not used"
      )
    }
    if (config.unsecured) {
      yield* Effect.logWarning(
        "UNSECURED=true: autoscaler signatures are NOT checked. Anyone who can reach the public port can create sessions and steer load reports. Use only for local development."
      )
    }
  })
