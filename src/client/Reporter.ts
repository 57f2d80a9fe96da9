/**
 * Where events go: JSON lines (`--json`), timestamped prose lines followed by the final table (not a
 * terminal), or a live table redrawn in place (a terminal), whose last frame is the final table.
 * Either way the final table appears once, however the run ended (Ctrl-C included).
 */
import { Clock, Context, DateTime, Effect, Layer, Ref } from "effect"
import { type ClientEvent, describe } from "./events.js"
import { liveFrame } from "./liveFrame.js"
import { printable, printableJson } from "../shared/printable.js"
import { MAX_LIFETIME_SECONDS } from "../protocol/session.js"

/**
 * Writes text as is (no newline added). `kept`: a run's last word (its `done`, its final table), written even to a
 * reader far behind, who would otherwise lose it (`eventOutput.ts` drops other events then).
 */
export type Write = (text: string, kept?: boolean) => Effect.Effect<void>

/** Whether an event is a run's last word. */
const lastWord = (event: ClientEvent): boolean => event.event === "done"

/**
 * One event as a JSON line: the event's fields, exact (a script reads the session id and the worker's URL as the worker
 * gave them), plus `at`; escaped so that no character in it acts on a terminal (`printableJson`).
 */
export const jsonLine = (event: object, at: DateTime.DateTime): string => `${printableJson({ ...event, at: DateTime.formatIso(at) })}\n`

export class Reporter extends Context.Tag("client/Reporter")<
  Reporter,
  { readonly emit: (event: ClientEvent) => Effect.Effect<void> }
>() {
  /** One JSON object per line: the event's fields plus `at`. */
  static readonly layerJson = (write: Write): Layer.Layer<Reporter> =>
    Layer.succeed(
      Reporter,
      Reporter.of({
        emit: (event) => Effect.flatMap(DateTime.now, (now) => write(jsonLine(event, now), lastWord(event)))
      })
    )

  /** `<ISO time> <sentence>` per event; when the reporter closes, the table of reservations, once. */
  static readonly layerPlain = (write: Write): Layer.Layer<Reporter> => Layer.scoped(Reporter, makePlain(write))

  /**
   * A table of reservations redrawn on every event and every second; the last frame stays on screen.
   * Lines are cut to `columns()` characters: a wrapped line would make the next redraw start too low
   * and leave a stale copy of the table above it.
   */
  static readonly layerLive = (write: Write, columns: () => number = () => Number.POSITIVE_INFINITY): Layer.Layer<Reporter> =>
    Layer.scoped(Reporter, makeLive(write, columns))

  /** Keeps every event in `events`, for tests. */
  static readonly layerRecording = (events: Ref.Ref<ReadonlyArray<ClientEvent>>): Layer.Layer<Reporter> =>
    Layer.succeed(Reporter, Reporter.of({ emit: (event) => Ref.update(events, (all) => [...all, event]) }))
}

type RowState = "routing" | "waiting" | "retrying" | "open" | "ending" | "ended" | "end failed" | "closed" | "failed" | "cancelled"

export interface Row {
  readonly reservation: number
  readonly state: RowState
  readonly sessionId: string | null
  readonly url: string | null
  /** Epoch ms when the session was created (client clock). */
  readonly createdAt: number | null
  /** Epoch seconds (worker clock). */
  readonly expiration: number | null
}

export interface LiveState {
  readonly rows: ReadonlyArray<Row>
  readonly last: string
}

const emptyLive: LiveState = { rows: [], last: "" }

const emptyRow = (reservation: number): Row => ({
  reservation,
  state: "routing",
  sessionId: null,
  url: null,
  createdAt: null,
  expiration: null
})

/** The table's state after `event` (at `now`, epoch ms). */
export const applyEvent = (state: LiveState, event: ClientEvent, now: number): LiveState => {
  const last = describe(event, now)
  if (event.event === "interrupted") {
    // A reservation still looking for a worker is given up: it will never be created.
    const looking = (row: Row) => row.state === "routing" || row.state === "waiting" || row.state === "retrying"
    return { rows: state.rows.map((row) => (looking(row) ? { ...row, state: "cancelled" } : row)), last }
  }
  if (!("reservation" in event) || event.reservation === undefined) return { ...state, last }
  const reservation = event.reservation
  const current = state.rows.find((row) => row.reservation === reservation) ?? emptyRow(reservation)
  const next: Row = (() => {
    switch (event.event) {
      case "routing":
        return { ...current, state: "routing" }
      case "waiting":
        return { ...current, state: "waiting" }
      case "route_failed":
        return { ...current, state: "retrying" }
      case "refused":
        return { ...current, state: "retrying", url: event.url }
      case "created":
        return { ...current, state: "open", sessionId: event.session_id, url: event.url, createdAt: now, expiration: event.expiration }
      case "pinged":
        return { ...current, expiration: event.expiration }
      case "ending":
      case "end_retry":
        return { ...current, state: "ending" }
      case "ended":
        return { ...current, state: "ended" }
      case "closed":
        return { ...current, state: "closed" }
      case "error":
        // An end that failed leaves the session to its worker, which may hold it until it expires (or be gone).
        if (event.operation === "session/end" && current.state === "ending") return { ...current, state: "end failed" }
        return event.fatal ? { ...current, state: current.state === "open" || current.state === "ending" ? current.state : "failed" } : current
    }
  })()
  const rows = state.rows.some((row) => row.reservation === reservation)
    ? state.rows.map((row) => (row.reservation === reservation ? next : row))
    : [...state.rows, next]
  return { rows, last }
}

const duration = (ms: number): string => {
  const total = Number.isFinite(ms) ? Math.max(0, Math.round(ms / 1000)) : 0
  const minutes = Math.floor(total / 60)
  return minutes > 0 ? `${minutes}m${String(total % 60).padStart(2, "0")}s` : `${total}s`
}

/** The table's lines: a row per reservation, then the number of distinct workers in use. */
export const renderTable = (state: LiveState, now: number): ReadonlyArray<string> => {
  // The state comes first: on a narrow terminal the lines are cut on the right.
  const header = ["#", "STATE", "SESSION", "WORKER", "AGE", "EXPIRES IN"]
  const cells = state.rows.map((row) => {
    const live = row.state === "open" || row.state === "ending" || row.state === "end failed"
    return [
      String(row.reservation),
      row.state,
      // What the worker sent is made printable where it is shown; the state keeps it exact (workers are counted by it).
      printable(row.sessionId ?? "-"),
      printable(row.url ?? "-"),
      row.createdAt === null || !live ? "-" : duration(now - row.createdAt),
      row.expiration === null || !live ? "-" : duration(Math.min(row.expiration * 1000 - now, MAX_LIFETIME_SECONDS * 1000))
    ]
  })
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((line) => (line[column] ?? "").length)))
  const format = (line: ReadonlyArray<string>) => line.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd()
  const workers = new Set(state.rows.filter((row) => row.state === "open" || row.state === "ending").map((row) => row.url))
  const unsure = state.rows.filter((row) => row.state === "end failed").length
  const note = unsure === 0 ? "" : ` (and ${unsure} whose end failed: a worker may hold it until it expires)`
  return [format(header), ...cells.map(format), "", `workers in use: ${workers.size}${note}`]
}

/** A live frame: the table and the latest event, each line cut to `width` characters. */
export const renderFrame = (state: LiveState, now: number, width: number): ReadonlyArray<string> =>
  [...renderTable(state, now), printable(state.last)].map((line) => (line.length > width ? line.slice(0, Math.max(0, width)) : line))

const makePlain = (write: Write) =>
  Effect.gen(function* () {
    const state = yield* Ref.make<LiveState>({ rows: [], last: "" })
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const final = yield* Ref.get(state)
        if (final.rows.length === 0) return
        const now = yield* Clock.currentTimeMillis
        yield* write(`\n${renderTable(final, now).join("\n")}\n`, true)
      })
    )
    return Reporter.of({
      emit: (event) =>
        Effect.gen(function* () {
          const now = yield* DateTime.now
          const millis = DateTime.toEpochMillis(now)
          yield* Ref.update(state, (current) => applyEvent(current, event, millis))
          yield* write(`${DateTime.formatIso(now)} ${printable(describe(event, millis))}\n`, lastWord(event))
        })
    })
  })

const makeLive = (write: Write, columns: () => number) =>
  Effect.map(liveFrame({ write, columns, initial: emptyLive, apply: applyEvent, render: renderFrame }), (emit) => Reporter.of({ emit }))
