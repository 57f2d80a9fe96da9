/**
 * The worker's settings, as `node dist/main.js --help` prints them. docs/reference.md's table says the same;
 * `WorkerConfig.ts` is where they are read.
 */
import { VERSION } from "../shared/version.js"

const variables: ReadonlyArray<readonly [string, string, string]> = [
  ["WORKER_PORT", "required", "public worker API (TLS when USE_SSL=true), all interfaces"],
  ["WORKER_HTTP_PORT", "WORKER_PORT+1", "plain-HTTP webhook port serving POST /session/end"],
  ["NULL_CONTROL_PORT", "18999", "loopback control server: /release, /sessions, /recycle, /health, /debug, /metrics"],
  ["REPORT_ADDR", "required", "autoscaler base URLs, comma-separated, tried in order"],
  ["CONTAINER_ID", "required", "the worker's id in every report"],
  ["PUBLIC_IPADDR", "required", "host part of the URL the autoscaler knows the worker by"],
  ["VAST_TCP_PORT_<WORKER_PORT>", "required", "external port mapped to WORKER_PORT"],
  ["MASTER_TOKEN", "\"\"", "sent as mtoken; bearer token of /pyworker/update"],
  ["USE_SSL", "false", "exactly `true` turns TLS on for the public port"],
  ["WORKER_TLS_CERT / WORKER_TLS_KEY", "/etc/instance.crt, .key", "certificate chain and key for TLS"],
  ["UNSECURED", "false", "skip autoscaler signature checks (development only)"],
  ["BACKEND_HEALTH_URL", "unset", "your consumer's health URL; unset: no consumer is checked (the control server serves a stub /health)"],
  ["HEALTHCHECK_INTERVAL", "10", "seconds between health checks"],
  ["HEALTHCHECK_TIMEOUT", "10", "seconds one health check may take"],
  ["HEALTH_FAILURE_THRESHOLD", "3", "failed checks in a row before error_msg is reported"],
  ["HEALTH_STARTUP_GRACE", "0", "seconds after start in which failed checks are not errors"],
  ["NULL_MAX_SESSIONS", "1", "slots: sessions open at once, 1 to 1024 (a create beyond gets 429)"],
  ["MAX_SESSION_SECONDS", "unset", "hard cap on a session's life, whatever the pings"],
  ["DRAIN_TIMEOUT", "30", "seconds open sessions get after SIGTERM before they close with `shutdown`; 0: at once"],
  ["OUTBOX_FILE", "unset", "journal of pending callbacks, re-sent by the next process after a crash"],
  ["CALLBACK_CONCURRENCY", "16", "on_close deliveries in flight at once"],
  ["CALLBACK_MAX_PENDING", "1000", "on_close deliveries waiting, at most; at the cap a create with a callback gets 503"],
  ["CALLBACK_MAX_PENDING_BYTES", "67108864", "their JSON and routes, with what open sessions reserve for theirs, in characters, at most (at least 1048576; up to 1056767 is raised to 1056768, said at start); past it a create with a callback gets 503"],
  ["BIND_RETRY_SECONDS", "10", "how long a taken port, or a journal another live worker holds, is tried again before the launch fails"],
  ["MAX_CONNECTIONS", "512", "open connections per public listener (the control port has its own 128)"],
  ["LOG_FORMAT", "logfmt", "logfmt, json or pretty"],
  ["LOG_LEVEL", "info", "debug, info, warning (or warn), error or none (also all, trace, fatal), in any case"],
  ["HELPER_THREAD_NICE", "19", "nice value (0-19) of V8's and libuv's helper threads, so answers come first; 0: unchanged"],
  ["YOUNG_GENERATION_MB", "16", "the most V8's young generation may grow to (0-1024 MiB; it doubles: 1, 2, 4, 8, 16, 32), which bounds its memory under load; 0: V8's own growth"],
  ["NULL_FORCE_UPDATE_FILE", "/.force_update", "the marker /pyworker/update creates"],
  ["NULL_EXIT_FILE", "unset", "a deliberate stop ends by writing `<pid> stopped` here: a supervisor tells it from a kill"]
]

export const helpText = (): string => {
  const width = Math.max(...variables.map(([name]) => name.length))
  const defaults = Math.max(...variables.map(([, fallback]) => fallback.length))
  const lines = variables.map(([name, fallback, meaning]) => `  ${name.padEnd(width)}  ${fallback.padEnd(defaults)}  ${meaning}`)
  return [
    `null-worker ${VERSION}: a Vast.ai Serverless worker that forwards nothing; a reservation is a session.`,
    "",
    "Usage: null-worker                  (node dist/main.js; configured by environment variables)",
    "       null-worker --help | --version",
    "",
    `  ${"variable".padEnd(width)}  ${"default".padEnd(defaults)}  meaning`,
    ...lines,
    "",
    "Signals: SIGTERM/SIGINT/SIGHUP/SIGUSR2 drain (DRAIN_TIMEOUT), close what is left, send callbacks and a last report,",
    "exit 0; a second signal skips the rest of the drain."
  ].join("\n")
}
