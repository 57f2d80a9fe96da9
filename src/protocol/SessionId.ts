import { Schema } from "effect"

/**
 * A session id as the worker issues it (13 characters of `[A-Za-z0-9]`, the framework's shape) and as
 * clients send it back. Branded, so that it cannot be swapped with another string.
 */
/** No id the worker issues or accepts back is longer. */
export const SESSION_ID_MAX_LENGTH = 256

export const SessionId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(SESSION_ID_MAX_LENGTH), Schema.brand("SessionId"))
export type SessionId = typeof SessionId.Type

/** Session ids have the framework's length. */
export const SESSION_ID_LENGTH = 13
