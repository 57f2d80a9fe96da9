import { Schema } from "effect"

/**
 * A session id as the worker issues it (13 characters of `[A-Za-z0-9]`, the framework's shape) and as
 * clients send it back. Branded, so that it cannot be swapped with another string.
 */
export const SessionId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256), Schema.brand("SessionId"))
export type SessionId = typeof SessionId.Type

/** Session ids have the framework's length. */
export const SESSION_ID_LENGTH = 13
