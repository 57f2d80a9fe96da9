import { describe, expect, it } from "vitest"
import { Schema } from "effect"
import { RouteRequestIn } from "../../src/protocol/route.js"

describe("RouteRequestIn", () => {
  it("a /route/ body without cost counts 100, as the SDK's does, and without request_idx is a first request (review 43 L6i)", () => {
    expect(Schema.decodeUnknownSync(RouteRequestIn)({ endpoint: "e", api_key: "k" })).toEqual({ endpoint: "e", api_key: "k", cost: 100, request_idx: 0 })
    expect(Schema.decodeUnknownSync(RouteRequestIn)({ endpoint: "e", api_key: "k", cost: 0, request_idx: null })).toEqual({ endpoint: "e", api_key: "k", cost: 0, request_idx: null })
  })
})
