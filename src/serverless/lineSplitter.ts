/**
 * A child's output cut into lines. Each stream has its own splitter, so that stdout and stderr chunks never mix into
 * one line, and UTF-8 characters split between chunks are put back together. A line longer than `maxChars` is shown
 * cut, once, and the rest of it up to the next newline is dropped: a child that prints without newlines must not
 * grow the parent's memory without bound. A last line without its newline is given when the stream ends (a crash
 * message is often one).
 */
import { StringDecoder } from "node:string_decoder"

export const LINE_MAX_CHARS = 16 * 1024

export interface LineSplitter {
  /** A chunk of the stream. */
  readonly push: (chunk: Buffer) => void
  /** The stream ended: its unfinished last line, if any, is given. */
  readonly end: () => void
}

export const lineSplitter = (onLine: (line: string) => void, maxChars = LINE_MAX_CHARS): LineSplitter => {
  const decoder = new StringDecoder("utf8")
  let partial = ""
  // Inside a line already cut: its rest is dropped until the newline.
  let dropping = false
  const cut = (line: string) => `${line.slice(0, maxChars)} … (line cut at ${maxChars} characters)`
  const give = (line: string) => onLine(line.length > maxChars ? cut(line) : line)
  return {
    push: (chunk) => {
      const lines = (partial + decoder.write(chunk)).split("\n")
      partial = lines.pop() ?? ""
      for (const line of lines) {
        if (dropping) dropping = false
        else give(line)
      }
      if (partial.length > maxChars) {
        if (!dropping) onLine(cut(partial))
        dropping = true
        partial = ""
      }
    },
    end: () => {
      const last = partial + decoder.end()
      partial = ""
      if (!dropping && last !== "") give(last)
      dropping = false
    }
  }
}
