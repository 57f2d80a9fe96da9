import { Schema } from "effect"

/**
 * A session id as the worker issues it (13 characters of `[A-Za-z0-9]`, the framework's shape) and as
 * clients send it back. Branded, so that it cannot be swapped with another string.
 */
/** No id the worker issues or accepts back is longer. */
export const SESSION_ID_MAX_LENGTH = 256

/** A session id a caller sent, as an answer echoes it: cut past the longest id there can be, so no answer echoes a megabyte. */
export const echoedId = (id: string): string => (id.length <= SESSION_ID_MAX_LENGTH ? id : `${id.slice(0, SESSION_ID_MAX_LENGTH)}…`)

export const SessionId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(SESSION_ID_MAX_LENGTH), Schema.brand("SessionId"))
export type SessionId = typeof SessionId.Type

/** Session ids have the framework's length. */
export const SESSION_ID_LENGTH = 13
