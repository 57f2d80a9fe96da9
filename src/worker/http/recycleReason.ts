/**
 * The reason a `/recycle` gives, from whatever body it came with. A recycle refused leaves a broken instance taking
 * reservations, and a consumer's loop seldom checks the status: a reason too long, not a string, or a body that is not
 * JSON (`curl -d 'disk full'`) had each been a `422` and the worker served on (probe 58 #5). So every body recycles;
 * only what it says is read as well as it can be.
 */
import { RECYCLE_REASON_MAX } from "../../protocol/control.js"

/**
 * A body's reason: `{"reason": …}`'s (null or absent: none), plain text as it is, anything else as its JSON. Text that
 * begins as JSON does (broken, or nested past the parser's depth) gives none: it is a request meant for another route,
 * which may hold a signature or a `session_auth`, and the reason is logged and reported.
 */
const reasonIn = (body: unknown): string => {
  if (body === undefined || body === null) return ""
  if (typeof body === "string") return /^\s*[[{]/.test(body) ? "" : body
  if (typeof body === "object" && !Array.isArray(body)) {
    const reason: unknown = (body as Record<string, unknown>)["reason"]
    return reason === undefined || reason === null ? "" : typeof reason === "string" ? reason : JSON.stringify(reason)
  }
  return JSON.stringify(body)
}

/**
 * The reason to report, `RECYCLE_REASON_MAX` characters at most (and a word on the cut), or "" for the default. Counted
 * in code points: a cut in UTF-16 units could leave half of an emoji (review 65 #6).
 */
export const recycleReason = (body: unknown): string => {
  const reason = reasonIn(body).trim()
  if (reason.length <= RECYCLE_REASON_MAX) return reason
  const points = Array.from(reason)
  return points.length <= RECYCLE_REASON_MAX ? reason : `${points.slice(0, RECYCLE_REASON_MAX).join("")}… (cut: ${points.length} characters in all)`
}
