import type { CloseReason } from "../../machines/slot.js"

/**
 * The `on_close_route` body, built as the framework builds it: a copy of an object payload, `{}` for
 * none, `{"payload": v}` for any other JSON value; then `session_id` is added only when the key is absent.
 * Beyond the framework, `close_reason` is added the same way, so a receiver can tell a released job from
 * an expired one.
 */
export const callbackBody = (payload: unknown, sessionId: string, reason: CloseReason): Record<string, unknown> => {
  const body: Record<string, unknown> =
    payload === null || payload === undefined
      ? {}
      : typeof payload === "object" && !Array.isArray(payload)
        ? { ...payload }
        : { payload }
  if (!Object.hasOwn(body, "session_id")) body["session_id"] = sessionId
  if (!Object.hasOwn(body, "close_reason")) body["close_reason"] = reason
  return body
}
