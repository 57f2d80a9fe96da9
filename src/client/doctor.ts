/**
 * `null-worker-client doctor`: read an endpoint's settings through the endpoint lookup, judge each
 * one for the null worker (`doctorRules.ts`), and, with `--worker`, check that a worker answers. The
 * report is prose or one JSON object; it is OK when nothing is risky and the worker (if given) answers.
 */
import { Effect, Option } from "effect"
import { type Finding, findings } from "./doctorRules.js"
import type { EndpointSettings } from "./endpointSettings.js"
import { type WorkerProbe, PROBE_SESSION_ID, VastClient } from "./VastClient.js"
import { printableDeep } from "../shared/printable.js"
import { withoutOperation } from "./events.js"

export interface DoctorReport {
  /** The endpoint as looked up; null when the lookup failed (`error` says why). */
  readonly endpoint: EndpointSettings | null
  readonly findings: ReadonlyArray<Finding>
  /** The `--worker` check; null without `--worker`. */
  readonly worker: WorkerProbe | null
  readonly ok: boolean
  readonly error?: string
}

/** Look the endpoint up and judge it; probe the worker when one is given. Never fails: failures are in the report. */
export const diagnose = (options: { readonly endpoint: string; readonly sessions: number; readonly worker: Option.Option<string> }) =>
  Effect.gen(function* () {
    const client = yield* VastClient
    const looked = yield* Effect.either(client.endpointSettings(options.endpoint))
    const worker = Option.isSome(options.worker) ? yield* client.probeWorker(options.worker.value) : null
    const workerOk = worker === null || worker.answers
    if (looked._tag === "Left") {
      return { endpoint: null, findings: [], worker, ok: false, error: looked.left.message } satisfies DoctorReport
    }
    const found = findings(looked.right, { sessions: options.sessions })
    return { endpoint: looked.right, findings: found, worker, ok: found.length === 0 && workerOk } satisfies DoctorReport
  })

const describeWorker = (probe: WorkerProbe): string =>
  probe.answers
    ? `worker ${probe.url}: answers (POST /session/health about session "${PROBE_SESSION_ID}" → ${probe.status} ${probe.detail})`
    : probe.status === null
      ? `worker ${probe.url}: no answer: ${probe.detail}`
      : `worker ${probe.url}: does not answer as a null worker (POST /session/health → ${probe.status} ${probe.detail})`

/** The report as prose, one finding per paragraph; what came from outside is made printable. */
export const renderText = (diagnosed: DoctorReport): string => {
  const report = printableDeep(diagnosed)
  const lines: Array<string> = []
  if (report.endpoint === null) {
    lines.push(`endpoint lookup failed: ${withoutOperation("endpoint lookup", report.error ?? "unknown error")}`)
  } else {
    const { id, name, state } = report.endpoint
    const where = `endpoint ${name} (id ${id}${state === null ? "" : `, ${state}`})`
    lines.push(
      report.findings.length === 0 ? `${where}: no risky setting` : `${where}: ${report.findings.length} risky setting(s)`
    )
    for (const finding of report.findings) {
      lines.push(`  ${finding.setting} = ${finding.value === null ? "(not reported)" : finding.value}`)
      lines.push(`    risk: ${finding.risk}`)
      lines.push(`    fix:  ${finding.fix}`)
    }
    // Where the fixes go: the endpoint's settings in the Vast console, or vast-cli's update (older versions of it lack
    // some of these flags). A setting that could not be checked has no value to set: its `fix` asks the user to look.
    const flags = report.findings.flatMap((finding) => (finding.setTo === null ? [] : [`--${finding.setting} ${finding.setTo}`]))
    if (flags.length > 0) lines.push(`  apply: vastai update endpoint ${id} ${flags.join(" ")}   (or edit the endpoint in the Vast console)`)
  }
  if (report.worker !== null) lines.push(describeWorker(report.worker))
  lines.push(report.ok ? "doctor: OK" : "doctor: something needs attention (exit status 1)")
  return `${lines.join("\n")}\n`
}

/** A number JSON cannot hold (a setting reported as "NaN" or "Infinity") as its text: `null` would read as "not reported". */
const nonFiniteAsText = (_key: string, value: unknown): unknown => (typeof value === "number" && !Number.isFinite(value) ? String(value) : value)

/** The report as one line of JSON: `{endpoint, findings: [{setting, value, risk, fix, setTo}], worker, ok}`. */
export const renderJson = (report: DoctorReport): string => `${JSON.stringify(printableDeep(report), nonFiniteAsText)}\n`
