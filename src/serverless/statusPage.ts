/** The status page: the JSON of `/status`, as an HTML page that refreshes itself every second. */
import { DateTime, type Effect } from "effect"
import type { ControlPlane } from "./ControlPlane.js"

type Status = ControlPlane["status"] extends Effect.Effect<infer A> ? A : never

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c)

const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number | null>>): string =>
  rows.length === 0
    ? "<p><em>none</em></p>"
    : `<table><tr>${headers.map((h) => `<th>${escape(h)}</th>`).join("")}</tr>${rows
        .map((row) => `<tr>${row.map((cell) => `<td>${escape(String(cell ?? ""))}</td>`).join("")}</tr>`)
        .join("")}</table>`

const time = (epochSeconds: number): string => DateTime.formatIso(DateTime.unsafeMake(epochSeconds * 1000)).slice(11, 23)

export const statusPage = (status: Status): string => `<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="1"><title>null-worker local serverless</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}th{background:#f4f4f4}code{background:#f4f4f4}</style></head>
<body><h1>Local serverless: endpoint <code>${escape(status.endpoint.name)}</code></h1>
<p>${status.workers.length} worker(s); capacity needed ${status.needed_capacity.toFixed(1)};
target_util ${status.endpoint.target_util}, min_load ${status.endpoint.min_load}, max_workers ${status.endpoint.max_workers},
cold_workers ${status.endpoint.cold_workers}, inactivity_timeout ${status.endpoint.inactivity_timeout} s,
max_queue_time ${status.endpoint.max_queue_time} s, target_queue_time ${status.endpoint.target_queue_time} s.
JSON: <a href="/status">/status</a></p>
<h2>Workers</h2>
${table(
  ["id", "state", "url", "cur_load", "routed", "max_perf", "error", "exit"],
  status.workers.map((w) => [`w${w.id}`, w.state, w.url, w.cur_load, w.routed_load, w.max_perf, w.error_msg, w.exit])
)}
<h2>Waiting route requests</h2>
${table(["request_idx", "cost", "waiting (s)"], status.waiting.map((r) => [r.request_idx, r.cost, r.waiting_s.toFixed(1)]))}
<h2>Callbacks received</h2>
${table(["at", "path", "body"], status.callbacks.slice(-20).reverse().map((c) => [time(c.at), c.path, JSON.stringify(c.body)]))}
<h2>Events</h2>
${table(["at", "event"], status.events.slice(-30).reverse().map((e) => [time(e.at), e.text]))}
</body></html>`
