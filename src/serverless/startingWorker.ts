/**
 * What a worker still starting waits for, read from its latest output: its latest notice (a warning or an error, or its
 * `waiting for …` line, said at info once per reason while it waits for the consumer), which a later line (`Serverless
 * public key loaded`) must not hide, with that later line beside it, since it may say the wait is over (`first health
 * check passed`); with no notice, its latest line. Shown on the status page, and said when the worker is replaced.
 */

/** A logfmt line's `message`, or the line itself; cut to a table cell's width. */
const messageOf = (line: string): string => {
  const found = /(?:^| )message=(?:"((?:[^"\\]|\\.)*)"|(\S+))/.exec(line)
  const text = found === null ? line : found[1] !== undefined ? found[1].replace(/\\(.)/g, "$1") : (found[2] ?? line)
  return text.length > 160 ? `${text.slice(0, 160)}…` : text
}

const isNotice = (line: string): boolean => {
  // The level field comes before the message: a message that quotes " level=ERROR" is not a warning.
  const beforeMessage = line.split(" message=", 1)[0] ?? ""
  return /(?:^| )level=(?:WARN|ERROR|FATAL)\b/.test(beforeMessage) || messageOf(line).startsWith("waiting for ")
}

const lastIndexWhere = (lines: ReadonlyArray<string>, keep: (line: string) => boolean): number => {
  for (let i = lines.length - 1; i >= 0; i--) if (keep(lines[i]!)) return i
  return -1
}

/** "" when the worker has said nothing yet. */
export const whatItWaitsFor = (tail: ReadonlyArray<string>): string => {
  if (tail.length === 0) return ""
  const latest = messageOf(tail[tail.length - 1]!)
  const notice = lastIndexWhere(tail, isNotice)
  return notice < 0 || notice === tail.length - 1 ? latest : `${messageOf(tail[notice]!)}; since then: ${latest}`
}
