/**
 * A Cause in one line, for a status field or an event: a failure's message (or its tag), a defect's name and
 * message. Never `Cause.pretty`: its stack holds local paths and spans lines a reader of one line cannot use.
 */
import { Cause, Chunk, Option } from "effect"

/** The first line of a text: an `Error`'s message may carry more (OpenSSL's, a stack pasted in). */
const firstLine = (text: string): string => text.split("\n")[0] ?? ""

/** A thrown value in one line: `TypeError: Protocol "ftp:" not supported…`. */
export const describeDefect = (defect: unknown): string =>
  defect instanceof Error
    ? defect.message !== "" ? `${defect.name}: ${firstLine(defect.message)}` : defect.name
    : firstLine(String(defect))

export const describeCause = (cause: Cause.Cause<{ readonly _tag: string; readonly message: string }>): string =>
  Option.match(Cause.failureOption(cause), {
    onSome: (error) => (error.message !== "" ? firstLine(error.message) : error._tag),
    onNone: () => Option.match(Chunk.head(Cause.defects(cause)), { onNone: () => "interrupted", onSome: describeDefect })
  })
