import { Layer, Logger, LogLevel } from "effect"

/** One log line: its level and what was logged (the message, then any fields). */
export interface LoggedLine {
  readonly level: string
  readonly message: ReadonlyArray<unknown>
}

/** A logger that keeps every line from `minimum` up, for tests of what an operator sees. */
export const capturedLogs = (minimum: LogLevel.LogLevel = LogLevel.Info) => {
  const lines: Array<LoggedLine> = []
  const logger = Logger.make(({ logLevel, message }) => {
    const parts: ReadonlyArray<unknown> = Array.isArray(message) ? message : [message]
    lines.push({ level: logLevel.label, message: parts })
  })
  const layer = Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(minimum))
  return { lines, layer }
}
