import { isUtf8 } from "node:buffer"

/**
 * A header's value as the client wrote it. Node reads header bytes as Latin-1, one character each; they are read
 * again as UTF-8, as a body and a query are, so that a secret outside ASCII (a `MASTER_TOKEN` of `é`) matches when
 * the client sends its UTF-8, as it does on the Python worker, whose server decodes headers as UTF-8. `undefined`
 * when the bytes are not UTF-8: two different invalid bytes must not both read as U+FFFD and match each other.
 */
export const headerText = (latin1: string): string | undefined => {
  // The common case, ASCII, is already its own UTF-8.
  if (!/[^\x00-\x7f]/.test(latin1)) return latin1
  const bytes = Buffer.from(latin1, "latin1")
  return isUtf8(bytes) ? bytes.toString("utf8") : undefined
}
