import type { SlotSession } from "../../machines/slot.js"

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

export const slotSession = (overrides: Partial<SlotSession> = {}): SlotSession => ({
  id: "s1",
  authData: authData(),
  cost: 100,
  requestIdx: 4242,
  lifetimeMs: 1000,
  createdAt: 0,
  expiresAt: 1000,
  pingCount: 0,
  onCloseRoute: null,
  onClosePayload: null,
  ...overrides
})
