/**
 * Where the daemon's events go: JSON lines (`--json`), timestamped prose lines (not a terminal), or a
 * live view redrawn in place (a terminal): the latest decision, a row per reservation held or being
 * made, and the latest event. Pings are reported in JSON only: as prose they would drown the rest.
 */
import { Context, DateTime, Effect, Layer, Ref } from "effect"
import { jsonLine, type Write } from "../Reporter.js"
import { printable } from "../../shared/printable.js"
import { type AutoscaleEvent, describeAutoscale } from "./events.js"
import { liveFrame } from "../liveFrame.js"

export class AutoscaleReporter extends Context.Tag("autoscale/AutoscaleReporter")<
  AutoscaleReporter,
  { readonly emit: (event: AutoscaleEvent) => Effect.Effect<void> }
>() {
  static readonly layerJson = (write: Write): Layer.Layer<AutoscaleReporter> =>
    Layer.succeed(
      AutoscaleReporter,
      AutoscaleReporter.of({
        emit: (event) => Effect.flatMap(DateTime.now, (now) => write(jsonLine(event, now)))
      })
    )

  static readonly layerPlain = (write: Write): Layer.Layer<AutoscaleReporter> =>
    Layer.succeed(
      AutoscaleReporter,
      AutoscaleReporter.of({
        emit: (event) =>
          event.event === "pinged"
            ? Effect.void
            : Effect.flatMap(DateTime.now, (now) => write(`${DateTime.formatIso(now)} ${printable(describeAutoscale(event))}\n`))
      })
    )

  /** Redrawn on every event and every second; lines cut to `columns()` so that none wraps. */
  static readonly layerLive = (write: Write, columns: () => number = () => Number.POSITIVE_INFINITY): Layer.Layer<AutoscaleReporter> =>
    Layer.scoped(AutoscaleReporter, makeLive(write, columns))

  /** Keeps every event, for tests. */
  static readonly layerRecording = (events: Ref.Ref<ReadonlyArray<AutoscaleEvent>>): Layer.Layer<AutoscaleReporter> =>
    Layer.succeed(AutoscaleReporter, AutoscaleReporter.of({ emit: (event) => Ref.update(events, (all) => [...all, event]) }))
}

interface Row {
  readonly reservation: number
  readonly state: "reserving" | "open" | "draining"
  readonly sessionId: string | null
  readonly url: string | null
  /** Epoch ms (our clock). */
  readonly since: number
  /** Epoch seconds (the worker's). */
  readonly expiration: number | null
}

export interface LiveView {
  readonly decision: string
  readonly rows: ReadonlyArray<Row>
  readonly closed: number
  readonly last: string
  /** The error the daemon stopped on: kept in view, where the stop's own events replace `last`. */
  readonly fatal?: string
}

const emptyView: LiveView = { decision: "", rows: [], closed: 0, last: "" }

/** The view after `event`, at `now` (epoch ms). */
export const applyAutoscaleEvent = (view: LiveView, event: AutoscaleEvent, now: number): LiveView => {
  const last = event.event === "pinged" ? view.last : describeAutoscale(event)
  const without = (reservation: number) => view.rows.filter((row) => row.reservation !== reservation)
  const upsert = (row: Row) => [...without(row.reservation), row].sort((a, b) => a.reservation - b.reservation)
  const find = (reservation: number) => view.rows.find((row) => row.reservation === reservation)
  switch (event.event) {
    case "scale":
      return { ...view, decision: describeAutoscale(event), last }
    case "reserving":
      return { ...view, rows: upsert({ reservation: event.reservation, state: "reserving", sessionId: null, url: null, since: now, expiration: null }), last }
    case "created":
    case "adopted":
      return {
        ...view,
        rows: upsert({
          reservation: event.reservation,
          state: "open",
          sessionId: event.session_id,
          url: event.url,
          since: now,
          expiration: event.event === "created" ? event.expiration : null
        }),
        last
      }
    case "pinged": {
      const row = find(event.reservation)
      return row === undefined ? view : { ...view, rows: upsert({ ...row, expiration: event.expiration }) }
    }
    case "draining": {
      const row = find(event.reservation)
      return row === undefined ? { ...view, last } : { ...view, rows: upsert({ ...row, state: "draining" }), last }
    }
    case "closed":
      return { ...view, rows: without(event.reservation), closed: view.closed + 1, last }
    case "cancelled":
      return { ...view, rows: without(event.reservation), last }
    case "error":
      if (event.fatal === true) return { ...view, last, fatal: last }
      return event.reservation !== undefined && event.operation === "reserve" ? { ...view, rows: without(event.reservation), last } : { ...view, last }
    default:
      return { ...view, last }
  }
}

const duration = (ms: number): string => {
  const total = Math.max(0, Math.round(ms / 1000))
  const minutes = Math.floor(total / 60)
  return minutes > 0 ? `${minutes}m${String(total % 60).padStart(2, "0")}s` : `${total}s`
}

/** The frame: decision, table, totals, latest event; each line cut to `width`. */
export const renderAutoscaleFrame = (view: LiveView, now: number, width: number): ReadonlyArray<string> => {
  const header = ["#", "STATE", "SESSION", "WORKER", "AGE", "EXPIRES IN"]
  const cells = view.rows.map((row) => [
    String(row.reservation),
    row.state,
    // What the worker sent is made printable where it is shown; the state keeps it exact.
    printable(row.sessionId ?? "-"),
    printable(row.url ?? "-"),
    duration(now - row.since),
    row.expiration === null ? "-" : duration(row.expiration * 1000 - now)
  ])
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((line) => (line[column] ?? "").length)))
  const format = (line: ReadonlyArray<string>) => line.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd()
  const open = view.rows.filter((row) => row.state !== "reserving").length
  const lines = [
    // The last decision, made at the last look at the backlog; the table under it is live, so the two can differ.
    view.decision === "" ? "reading the backlog…" : `last decision: ${view.decision}`,
    "",
    format(header),
    ...cells.map(format),
    "",
    `sessions held: ${open}, closed so far: ${view.closed}`,
    printable(view.last),
    ...(view.fatal === undefined || view.fatal === view.last ? [] : [printable(view.fatal)])
  ]
  return lines.map((line) => (line.length > width ? line.slice(0, Math.max(0, width)) : line))
}

const makeLive = (write: Write, columns: () => number) =>
  Effect.map(liveFrame({ write, columns, initial: emptyView, apply: applyAutoscaleEvent, render: renderAutoscaleFrame }), (emit) => AutoscaleReporter.of({ emit }))
