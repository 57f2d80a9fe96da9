import { randomBytes } from "node:crypto"
import { SESSION_ID_LENGTH, SessionId } from "../../protocol/SessionId.js"

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
// 248 = 4 × 62: bytes at or above it are dropped so every character is equally likely.
const UNBIASED_LIMIT = 248

// Random bytes are drawn from the CSPRNG 4 KiB at a time: one system call per ~300 ids instead of one each.
const POOL_SIZE = 4096
let pool = randomBytes(POOL_SIZE)
let offset = 0

const nextRandomByte = (): number => {
  if (offset === POOL_SIZE) {
    pool = randomBytes(POOL_SIZE)
    offset = 0
  }
  // Each byte is used once and the pool is replaced, never reused.
  return pool[offset++] ?? 0
}

// The id's characters, written in place and read out as one string.
const codes = Buffer.alloc(SESSION_ID_LENGTH)

/**
 * A new session id from the operating system's CSPRNG (the framework used a non-secure PRNG), in the
 * framework's shape: 13 characters of `[A-Za-z0-9]`. Synchronous, so it can run inside the pool's one step.
 * The characters are collected as codes and made into one string; the brand is applied without running the
 * Schema's checks, which the shape satisfies by construction (on the session path the checks cost more than
 * the id: docs/performance.md).
 */
export const unsafeNewSessionId = (): SessionId => {
  let length = 0
  while (length < SESSION_ID_LENGTH) {
    const byte = nextRandomByte()
    if (byte < UNBIASED_LIMIT) codes[length++] = ALPHABET.charCodeAt(byte % 62)
  }
  return SessionId.make(codes.toString("latin1"), { disableValidation: true })
}
