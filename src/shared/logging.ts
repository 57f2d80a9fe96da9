/**
 * Log lines for all three programs: `LOG_FORMAT=logfmt|json|pretty` (default logfmt), `LOG_LEVEL`.
 *
 * Convention: `Effect.logInfo("session created", { session_id, cost })` — the text is the message and a
 * plain object adds fields. A `Cause` becomes a `cause` field. No fiber ids: they mean nothing to an
 * operator. Effect's own logfmt logger plus `annotateLogs` measured ~30 µs a line on the session path
 * (the annotation alone ~14 µs); this formatter and plain-object fields cost ~3 µs, and lines are written
 * in batches (one `write` per `window`), not one system call per line.
 */
import type { Writable } from "node:stream"
import { Cause, type Duration, Effect, HashMap, Layer, Logger, LogLevel, Queue, Schema } from "effect"
import { escapedControls, escapedInJson } from "./printable.js"
import { unwritten } from "./outputWritten.js"
import { writeSafely } from "./safeOutput.js"
import { boundedOutput, droppedSentence, keptBacklogMax, OUTPUT_BACKLOG_MAX } from "./boundedOutput.js"

// Each names what it takes in a refusal, instead of the schema's own description.
export const LogFormat = Schema.Literal("logfmt", "json", "pretty").annotations({ message: () => ({ message: "must be logfmt, json or pretty", override: true }) })
export type LogFormat = typeof LogFormat.Type

const LevelLiteral = Schema.Literal("all", "trace", "debug", "info", "warning", "error", "fatal", "none")

/** A level by name, in any case; `warn` is taken for `warning`, as most tools spell it. */
export const LogLevelName = Schema.compose(Schema.Lowercase, Schema.Union(LevelLiteral, Schema.transformLiteral("warn", "warning")), {
  strict: false
}).annotations({ message: () => ({ message: "must be debug, info, warning (or warn), error or none (also all, trace, fatal), in any case", override: true }) })
export type LogLevelName = typeof LevelLiteral.Type

export const toLogLevel = (name: LogLevelName): LogLevel.LogLevel => {
  switch (name) {
    case "all":
      return LogLevel.All
    case "trace":
      return LogLevel.Trace
    case "debug":
      return LogLevel.Debug
    case "info":
      return LogLevel.Info
    case "warning":
      return LogLevel.Warning
    case "error":
      return LogLevel.Error
    case "fatal":
      return LogLevel.Fatal
    case "none":
      return LogLevel.None
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype

/**
 * The fields of the line being formatted, as two parallel lists reused from line to line: formatting runs for
 * two lines per session, and this way it makes no array per field. Formatting is synchronous and
 * never re-entered, so one pair of lists serves every line.
 */
const keys: Array<string> = []
const values: Array<unknown> = []

/** Collect the fields of one log call into `keys`/`values`; returns the message text. */
const collect = (message: unknown, cause: Cause.Cause<unknown>, annotations: HashMap.HashMap<string, unknown>): string => {
  keys.length = 0
  values.length = 0
  let text: string | null = null
  const parts = Array.isArray(message) ? message : [message]
  for (const part of parts) {
    if (typeof part === "string") text = text === null ? part : `${text} ${part}`
    else if (isPlainObject(part)) {
      for (const key in part) {
        keys.push(key)
        values.push(part[key])
      }
    } else if (Cause.isCause(part)) {
      if (!Cause.isEmpty(part)) {
        keys.push("cause")
        values.push(Cause.pretty(part))
      }
    } else text = text === null ? String(part) : `${text} ${String(part)}`
  }
  for (const [key, value] of annotations) {
    keys.push(key)
    values.push(value)
  }
  if (!Cause.isEmpty(cause)) {
    keys.push("cause")
    values.push(Cause.pretty(cause))
  }
  return text ?? ""
}

const BARE = /^[A-Za-z0-9_.:/@+\-,]+$/

const logfmtValue = (value: unknown): string => {
  // A finite number prints as JSON prints it, and that text is always bare.
  if (typeof value === "number" && Number.isFinite(value)) return String(value)
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value)
  return BARE.test(text) ? text : escapedInJson(JSON.stringify(text))
}

const logfmtFields = (line: string): string => {
  for (let i = 0; i < keys.length; i++) line += ` ${keys[i]}=${logfmtValue(values[i])}`
  return line
}

// Lines come in bursts (two per session, often in the same millisecond): the last timestamp's text is reused.
let lastMillis = Number.NaN
let lastIso = ""
const isoOf = (date: Date): string => {
  const millis = date.getTime()
  if (millis !== lastMillis) {
    lastMillis = millis
    lastIso = date.toISOString()
  }
  return lastIso
}

// Every format is read on a terminal too: quoting escapes the C0 controls, and `escapedInJson` the C1 controls and the
// marks that reorder text on screen, which JSON leaves as they are (a value from a consumer, a recycle reason). Only
// quoted text is scanned: a bare value holds none of them (`BARE`), and most lines of a session are bare but the message.
const formatLogfmt = (date: Date, level: string, text: string): string =>
  logfmtFields(`timestamp=${isoOf(date)} level=${level} message=${escapedInJson(JSON.stringify(text))}`)

const formatJson = (date: Date, level: string, text: string): string => {
  const record: Record<string, unknown> = { timestamp: isoOf(date), level, message: text }
  for (let i = 0; i < keys.length; i++) if (!Object.hasOwn(record, keys[i]!)) record[keys[i]!] = values[i]
  return escapedInJson(JSON.stringify(record))
}

const formatPretty = (date: Date, level: string, text: string): string =>
  logfmtFields(`${isoOf(date).slice(11, 23)} ${level.padEnd(7)} ${escapedControls(text)}`)

const formatters = { logfmt: formatLogfmt, json: formatJson, pretty: formatPretty } as const

/** One log call as it was made; formatted into a line later, off the request path. */
interface Entry {
  readonly date: Date
  readonly level: string
  readonly message: unknown
  readonly cause: Cause.Cause<unknown>
  readonly annotations: HashMap.HashMap<string, unknown>
}

/** A field JSON cannot write (a BigInt, a cycle), named instead of written. */
const writableValue = (value: unknown): unknown => {
  try {
    JSON.stringify(value)
    return value
  } catch {
    return `<not writable: ${typeof value === "bigint" ? "a bigint" : "a value JSON cannot write"}>`
  }
}

/**
 * The line of one log call. Never throws: in a batch a throw would end the writing of every later line, and the calls
 * would pile up unwritten.
 */
const formatEntry = (format: LogFormat, entry: Entry): string => {
  try {
    return formatters[format](entry.date, entry.level, collect(entry.message, entry.cause, entry.annotations))
  } catch {
    try {
      const text = collect(entry.message, entry.cause, entry.annotations)
      for (let i = 0; i < values.length; i++) values[i] = writableValue(values[i])
      return formatters[format](entry.date, entry.level, text)
    } catch {
      keys.length = 0
      values.length = 0
      return formatters[format](entry.date, entry.level, "a log line could not be written")
    }
  }
}

/** A logger that formats each call into one line and hands it to `write` at once. */
export const lineLogger = (format: LogFormat, write: (line: string) => void): Logger.Logger<unknown, void> =>
  Logger.make(({ annotations, cause, date, logLevel, message }) =>
    write(formatEntry(format, { annotations, cause, date, level: logLevel.label, message }))
  )

/** What a warning says of the lines left out while the reader was behind. */
const droppedMessage = (dropped: number, max: number): string => droppedSentence(dropped, "log lines", max)

/** The levels whose lines a reader that is behind still gets. */
const KEPT_WHEN_BEHIND: ReadonlySet<string> = new Set([LogLevel.Warning.label, LogLevel.Error.label, LogLevel.Fatal.label])

/**
 * Lines for an output stream, in batches: a call only records its entry; `window` after the first entry of
 * a batch, the batch is formatted and written with one `write`. A request that logs does not pay for the
 * formatting or the system call before its answer goes out.
 */
const batchedLogger = (format: LogFormat, stream: Writable, window: Duration.DurationInput, backlogMax: number) =>
  Effect.gen(function* () {
    let buffer: Array<Entry> = []
    let open = true
    // Lines not written while the reader was behind, said once it has caught up.
    let dropped = 0
    /** The last line dropped: its time stamps the count said at the stop when no line comes after it. */
    let lastDropped: Entry | null = null
    /** `last`: the lines of the stop, written whatever the backlog (the exit waits for them, `outputWritten.ts`). */
    const flush = (last = false) => {
      // At the stop the count is said even with no line left to write (review 62 #5: at LOG_LEVEL=warn it was lost).
      if (buffer.length === 0 && !(last && dropped > 0)) return
      let entries = buffer
      buffer = []
      const backlog = last ? 0 : unwritten(stream)
      const behind = backlog > backlogMax
      if (behind) {
        // Warnings and errors are kept (a callback still pending at exit is one): what an operator needs, up to a bound
        // of their own (`keptBacklogMax`).
        const kept = backlog > keptBacklogMax(backlogMax) ? [] : entries.filter((entry) => KEPT_WHEN_BEHIND.has(entry.level))
        dropped += entries.length - kept.length
        lastDropped = entries.at(-1) ?? lastDropped
        if (kept.length === 0) return
        entries = kept
      }
      let text = ""
      // Said once the reader has caught up (or at the stop), ahead of the lines that come next.
      const stamped = entries[0] ?? lastDropped
      if (dropped > 0 && !behind && stamped !== null) {
        const message = droppedMessage(dropped, backlogMax)
        text = `${formatEntry(format, { ...stamped, level: LogLevel.Warning.label, message, cause: Cause.empty, annotations: HashMap.empty() })}\n`
        dropped = 0
      }
      try {
        for (const entry of entries) text += formatEntry(format, entry) + "\n"
      } catch {
        // Not reached by a line (formatEntry never throws), but a batch too long for one string could be: that batch
        // is lost, said in its place, and the writer goes on with the next.
        text = `${formatEntry(format, { ...entries[0]!, message: `${entries.length} log lines could not be written`, cause: Cause.empty, annotations: HashMap.empty() })}\n`
      }
      writeSafely(stream, text)
    }
    const pending = yield* Queue.sliding<void>(1)
    yield* Queue.take(pending).pipe(
      Effect.zipRight(Effect.sleep(window)),
      Effect.zipRight(Effect.sync(flush)),
      Effect.forever,
      Effect.forkScoped
    )
    // Entries logged after the scope closed (the last "stopped" line) are written at once.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        open = false
        flush(true)
      })
    )
    return Logger.make<unknown, void>(({ annotations, cause, date, logLevel, message }) => {
      const entry: Entry = { annotations, cause, date, level: logLevel.label, message }
      if (!open) return writeSafely(stream, formatEntry(format, entry) + "\n")
      buffer.push(entry)
      if (buffer.length === 1) Queue.unsafeOffer(pending, undefined)
    })
  })

export interface LoggingOptions {
  readonly format: LogFormat
  readonly level: LogLevelName
  /** Where lines go (stdout by default). */
  readonly stream?: Writable
  /** How long a batch may wait before it is written. */
  readonly window?: Duration.DurationInput
  /** Bytes written and not yet taken by the reader past which info and debug lines are dropped (and counted) rather than held. */
  readonly backlogMax?: number
}

/** Replace the default logger with ours for everything run under this layer. */
export const layer = (options: LoggingOptions): Layer.Layer<never> =>
  Layer.unwrapScoped(
    Effect.map(batchedLogger(options.format, options.stream ?? process.stdout, options.window ?? "20 millis", options.backlogMax ?? OUTPUT_BACKLOG_MAX), (logger) =>
      Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(toLogLevel(options.level)))
    )
  )

/**
 * Lines written at once to `stream`, dropped (and counted, in a warning once the reader has caught up) while its reader
 * is far behind, but for warnings and errors (`boundedOutput.ts`).
 */
export const boundedLineLogger = (format: LogFormat, stream: Writable, backlogMax: number = OUTPUT_BACKLOG_MAX): Logger.Logger<unknown, void> => {
  const output = boundedOutput(stream, backlogMax)
  return Logger.make(({ annotations, cause, date, logLevel, message }) => {
    const line = `${formatEntry(format, { annotations, cause, date, level: logLevel.label, message })}\n`
    const notice = (dropped: number, max: number) =>
      `${formatEntry(format, { date, level: LogLevel.Warning.label, message: droppedMessage(dropped, max), cause: Cause.empty, annotations: HashMap.empty() })}\n`
    if (KEPT_WHEN_BEHIND.has(logLevel.label)) output.writeKept(line, notice)
    else output.write(line, notice)
  })
}

/**
 * The programs other than the worker (the serverless, the demo, the examples): the worker's logfmt lines, each written
 * at once to stdout. Effect's `Logger.logFmt` would add a `fiber=#N` to every line, which tells a reader nothing.
 */
export const plainLogfmt: Layer.Layer<never> = Layer.suspend(() => Logger.replace(Logger.defaultLogger, boundedLineLogger("logfmt", process.stdout)))
