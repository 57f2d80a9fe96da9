import { describe, expect, it } from "vitest"
import { Schema } from "effect"
import { RouteRequestIn } from "../../src/protocol/route.js"
import { firstIssue } from "../../src/shared/firstIssue.js"

describe("RouteRequestIn", () => {
  it("a /route/ body without cost counts 100, as the SDK's does, and without request_idx is a first request (review 43 L6i)", () => {
    expect(Schema.decodeUnknownSync(RouteRequestIn)({ endpoint: "e", api_key: "k" })).toEqual({ endpoint: "e", api_key: "k", cost: 100, request_idx: 0 })
    expect(Schema.decodeUnknownSync(RouteRequestIn)({ endpoint: "e", api_key: "k", cost: 0, request_idx: null })).toEqual({ endpoint: "e", api_key: "k", cost: 0, request_idx: null })
  })
})

describe("RouteRequestIn's refusals", () => {
  it("a cost of another type is said with the cost's own rule, as a worker says it (review 43 I8)", () => {
    for (const cost of ["100", true, -1, 1e300]) {
      const decoded = Schema.decodeUnknownEither(RouteRequestIn)({ endpoint: "e", api_key: "k", cost })
      expect(decoded._tag, String(cost)).toBe("Left")
      if (decoded._tag === "Left") expect(firstIssue(decoded.left), String(cost)).toEqual({ field: "cost", message: "cost: must be a number from 0 to 1000000" })
    }
  })
})
