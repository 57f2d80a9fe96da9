import type { SlotSession } from "../../machines/slot.js"
import { NO_PAYLOAD } from "../../src/protocol/callback.js"
import { secretDigestHex } from "../../src/shared/secretEquals.js"

export const authData = (overrides: Record<string, unknown> = {}) => ({
  url: "https://203.0.113.7:41234",
  signature: "c2lnbmF0dXJl",
  reqnum: 917,
  request_idx: 4242,
  endpoint: "my-null-endpoint",
  cost: 100,
  __request_id: "req-1",
  ...overrides
})

/** A session as the pool would store it, with `authData()` as its secret. */
export const slotSession = (overrides: Partial<SlotSession> = {}): SlotSession => ({
  id: "s1",
  generation: 1,
  authDigest: secretDigestHex(authData()),
  cost: 100,
  requestIdx: 4242,
  lifetimeMs: 1000,
  createdAt: 0,
  expiresAt: 1000,
  limit: "lifetime",
  capAt: null,
  pingCount: 0,
  authDataText: JSON.stringify(authData()),
  onCloseRoute: null,
  onClosePayload: NO_PAYLOAD,
  callbackLength: 0,
  ...overrides
})
