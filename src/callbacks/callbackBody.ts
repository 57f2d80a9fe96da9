/**
 * The `on_close_route` body, built as the framework builds it: a copy of an object payload, `{}` for
 * none, `{"payload": v}` for any other JSON value; then `session_id` is added only when the key is absent.
 */
export const callbackBody = (payload: unknown, sessionId: string): Record<string, unknown> => {
  const body: Record<string, unknown> =
    payload === null || payload === undefined
      ? {}
      : typeof payload === "object" && !Array.isArray(payload)
        ? { ...payload }
        : { payload }
  if (!Object.hasOwn(body, "session_id")) body["session_id"] = sessionId
  return body
}
