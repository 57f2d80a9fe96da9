/**
 * The status page: the JSON of `/status` as an HTML page that refreshes itself every second. Each
 * worker row is coloured by its state, each table says in one line per column what the column
 * means, and the event list is the newest few, newest first, so the page does not grow.
 */
import { DateTime, type Effect } from "effect"
import type { ControlPlane } from "./ControlPlane.js"
import type { DisplayState } from "./scaling.js"
import { whatItWaitsFor } from "./startingWorker.js"
import { jsonText } from "../shared/exactJson.js"

type Status = ControlPlane["status"] extends Effect.Effect<infer A> ? A : never

/** Events shown on the page; `/status` has more. */
const EVENTS_ON_PAGE = 20
/** Callbacks shown on the page, newest first. */
const CALLBACKS_ON_PAGE = 20
/** Rows of waiting requests on the page: a flood of polls would otherwise make a page of megabytes every second. */
const WAITING_ON_PAGE = 100

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c)

interface Column {
  readonly title: string
  /** One line: what the column shows. */
  readonly meaning: string
}

type Cell = string | number | null

const table = (
  columns: ReadonlyArray<Column>,
  rows: ReadonlyArray<{ readonly cells: ReadonlyArray<Cell>; readonly className?: string }>
): string => {
  const legend = `<ul class="legend">${columns.map((c) => `<li><b>${escape(c.title)}</b>: ${escape(c.meaning)}</li>`).join("")}</ul>`
  if (rows.length === 0) return `<p><em>none</em></p>${legend}`
  const head = `<tr>${columns.map((c) => `<th title="${escape(c.meaning)}">${escape(c.title)}</th>`).join("")}</tr>`
  const body = rows
    .map(
      (row) =>
        `<tr${row.className === undefined ? "" : ` class="${row.className}"`}>${row.cells
          .map((cell) => `<td>${escape(String(cell ?? ""))}</td>`)
          .join("")}</tr>`
    )
    .join("")
  return `<table>${head}${body}</table>${legend}`
}

const time = (epochSeconds: number): string => DateTime.formatIso(DateTime.unsafeMake(epochSeconds * 1000)).slice(11, 23)

const seconds = (value: number | null): string => (value === null ? "" : value.toFixed(1))

/** Row colours: busy (holding a session) stands out from idle; starting and stopping are in between. */
const stateColours: Readonly<Record<DisplayState, string>> = {
  busy: "#c6efce",
  idle: "#f2f2f2",
  starting: "#fff2cc",
  draining: "#fce4d6",
  stopping: "#fce4d6",
  errored: "#f4b6b6"
}

const style = `body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0 .3em}
td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}th{background:#f4f4f4}code{background:#f4f4f4}
.legend{color:#555;font-size:12px;margin:0 0 1.5em;padding-left:1.2em}.legend li{margin:0}
.key span{display:inline-block;padding:0 .5em;margin-right:.3em;border:1px solid #ccc}
${Object.entries(stateColours)
  .map(([state, colour]) => `.state-${state}{background:${colour}}`)
  .join("\n")}`

const workerColumns: ReadonlyArray<Column> = [
  { title: "id", meaning: "the worker (its CONTAINER_ID)" },
  { title: "state", meaning: "starting (not ready yet), busy (holds load), idle (ready, no load), draining (reports no capacity: stopping of its own accord, it keeps what it holds), stopping, or errored" },
  { title: "session", meaning: "the sessions the worker holds, from its control port's GET /sessions, with seconds left" },
  { title: "url", meaning: "the worker's public URL, where clients create sessions" },
  { title: "control", meaning: "its control port, where a consumer on the instance releases it (POST /release)" },
  { title: "cur_load", meaning: "the load the worker last reported (each open session counts its cost)" },
  { title: "routed", meaning: "load routed to the worker that its reports do not show yet" },
  { title: "max_perf", meaning: "the capacity the worker reported (0 until it is ready, and while it drains)" },
  { title: "idle (s)", meaning: "seconds since its load dropped to zero; it stops once this passes inactivity_timeout" },
  { title: "error", meaning: "the error_msg the worker reported, if any; for a worker still starting, what it waits for (its latest warning or 'waiting for' line, and its latest line after it), or else its latest output line" },
  { title: "exit", meaning: "the process's exit code or signal, once it has ended; the sidecar's after 'sidecar:'" }
]

const exitCell = (exit: string | null, sidecarExit: string | null): string =>
  [exit ?? "", sidecarExit === null ? "" : `sidecar: ${sidecarExit}`].filter((part) => part !== "").join("; ")

/** The reported error; for a worker still starting, what it waits for (`startingWorker.ts`). */
const errorCell = (worker: Status["workers"][number]): string => {
  if (worker.error_msg !== "" || worker.state !== "starting") return worker.error_msg
  const waiting = whatItWaitsFor(worker.log_tail)
  return waiting === "" ? "" : `(starting) ${waiting}`
}

export const statusPage = (status: Status): string => {
  const sessionCell = (sessions: (typeof status.workers)[number]["sessions"]): string =>
    sessions === null
      ? ""
      : sessions.length === 0
        ? "none"
        : sessions.map((s) => `${s.session_id} (${Math.max(0, s.expires_at - status.at).toFixed(0)} s left)`).join(", ")
  const shownEvents = status.events.slice(0, EVENTS_ON_PAGE)
  return `<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="1"><title>null-worker local serverless</title>
<style>${style}</style></head>
<body><h1>Local serverless: endpoint <code>${escape(status.endpoint.name)}</code></h1>
<p>${status.workers.length} worker(s); capacity needed ${status.needed_capacity.toFixed(1)};
target_util ${status.endpoint.target_util}, min_load ${status.endpoint.min_load}, max_workers ${status.endpoint.max_workers},
cold_workers ${status.endpoint.cold_workers}, inactivity_timeout ${status.endpoint.inactivity_timeout} s,
max_queue_time ${status.endpoint.max_queue_time} s, target_queue_time ${status.endpoint.target_queue_time} s.
JSON: <a href="/status">/status</a>; Prometheus: <a href="/metrics">/metrics</a></p>
<h2>Workers</h2>
<p class="key">${Object.keys(stateColours)
    .map((state) => `<span class="state-${state}">${state}</span>`)
    .join("")}</p>
${table(
  workerColumns,
  status.workers.map((w) => ({
    className: `state-${w.state}`,
    cells: [`w${w.id}`, w.state, sessionCell(w.sessions), w.url, w.control_url, w.cur_load, w.routed_load, w.max_perf, seconds(w.idle_s), errorCell(w), exitCell(w.exit, w.sidecar_exit)]
  }))
)}
<h2>Waiting route requests (${status.waiting.length}${status.waiting.length > WAITING_ON_PAGE ? `; the ${WAITING_ON_PAGE} waiting longest shown` : ""})</h2>
${table(
  [
    { title: "request_idx", meaning: "the request's id; the client polls /route/ again with it" },
    { title: "cost", meaning: "the load the request will add (its session's cost)" },
    { title: "waiting (s)", meaning: "seconds since its first poll; dropped when its client stops polling or disconnects" },
    { title: "polls", meaning: "how many times its client asked; a connection that carried two polls is watched, and its close drops the request" }
  ],
  [...status.waiting]
    .sort((a, b) => b.waiting_s - a.waiting_s)
    .slice(0, WAITING_ON_PAGE)
    .map((r) => ({ cells: [r.request_idx, r.cost, r.waiting_s.toFixed(1), r.polls] }))
)}
<h2>Callbacks received (${status.callbacks_received})</h2>
${table(
  [
    { title: "at", meaning: "when the callback arrived (UTC)" },
    { title: "path", meaning: "where it was posted: the session's on_close_route under /callbacks/" },
    { title: "body", meaning: "the worker's callback: on_close_payload plus session_id and close_reason" }
  ],
  status.callbacks
    .slice(-CALLBACKS_ON_PAGE)
    .reverse()
    .map((c) => ({ cells: [time(c.at), c.path, jsonText(c.body) ?? "null"] }))
)}
<h2>Events (newest first; ${shownEvents.length} of ${status.events_total})</h2>
${table(
  [
    { title: "at", meaning: "when it happened (UTC)" },
    { title: "event", meaning: "what the serverless did or saw" }
  ],
  shownEvents.map((e) => ({ cells: [time(e.at), e.text] }))
)}
</body></html>`
}
