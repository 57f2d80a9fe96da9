/**
 * A Cause in one line, for a status field or an event: a failure's message (or its tag), a defect's name and
 * message. Never `Cause.pretty`: its stack holds local paths and spans lines a reader of one line cannot use.
 */
import { Cause, Chunk, ConfigError, Option } from "effect"

/** The first line of a text: an `Error`'s message may carry more (OpenSSL's, a stack pasted in). */
const firstLine = (text: string): string => text.split("\n")[0] ?? ""

/** Text for a thrown value that is not an Error: one with no prototype, or whose `toString` throws, has none. */
const shownAsText = (defect: unknown): string => {
  try {
    return String(defect)
  } catch {
    return "a thrown object that cannot be shown as text"
  }
}

/** A thrown value in one line: `TypeError: Protocol "ftp:" not supported…`. */
export const describeDefect = (defect: unknown): string => {
  try {
    return defect instanceof Error
      ? defect.message !== "" ? `${defect.name}: ${firstLine(String(defect.message))}` : String(defect.name)
      : firstLine(shownAsText(defect))
  } catch {
    // An Error whose `message` or `name` throws, a revoked Proxy (review 58 I8): said by its kind.
    return "a thrown object that cannot be shown as text"
  }
}

/** One line per problem, naming the variable: `WORKER_PORT: Expected an integer value but received "x"`. */
export const describeConfigError = (error: ConfigError.ConfigError): ReadonlyArray<string> => {
  switch (error._op) {
    case "And":
    case "Or":
      return [...describeConfigError(error.left), ...describeConfigError(error.right)]
    case "MissingData":
      return [`${error.path.join(".")}: is required but not set`]
    default:
      return [`${error.path.join(".")}: ${error.message}`]
  }
}

/** A Cause in one line. A `ConfigError` is said with its variable, which its own message leaves out. */
export const describeCause = (cause: Cause.Cause<{ readonly _tag: string; readonly message: string }>): string =>
  Option.match(Cause.failureOption(cause), {
    onSome: (error) =>
      ConfigError.isConfigError(error) ? describeConfigError(error).join("; ") : error.message !== "" ? firstLine(error.message) : error._tag,
    onNone: () => Option.match(Chunk.head(Cause.defects(cause)), { onNone: () => "interrupted", onSome: describeDefect })
  })
