/**
 * A callback receiver's `Retry-After` (RFC 9110 §10.2.3, on a `429` or `503`): how long it asked us to wait, so that a
 * retry does not come back before the receiver said it could take one. Bounded: a receiver cannot park a callback
 * for longer than `RETRY_AFTER_MAX_MS` per wait.
 */

/** The longest wait a `Retry-After` can ask for, per retry. */
export const RETRY_AFTER_MAX_MS = 60_000

/**
 * Milliseconds to wait from `now` (the wall clock, for the date form), or null when the header is absent or neither
 * delay-seconds nor an HTTP date.
 */
export const retryAfterMs = (header: string | undefined, now: number): number | null => {
  if (header === undefined) return null
  const value = header.trim()
  // delay-seconds: digits only (no sign, no fraction); a longer run than any sane wait is still a wait at the cap.
  if (/^\d+$/.test(value)) return Math.min(RETRY_AFTER_MAX_MS, Number(value) * 1000)
  // An HTTP date has a weekday and a time; a bare number or word would be read by Date.parse as something else.
  if (!/^[A-Za-z]{3}, /.test(value)) return null
  const at = Date.parse(value)
  return Number.isFinite(at) ? Math.min(RETRY_AFTER_MAX_MS, Math.max(0, at - now)) : null
}
