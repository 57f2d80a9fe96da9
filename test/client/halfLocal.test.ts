import { Option } from "effect"
import { describe, expect, it } from "vitest"
import { halfLocalWarning } from "../../src/client/cli.js"

const given = (autoscaler: string | null, webserver: string | null) => ({
  autoscalerUrl: Option.fromNullable(autoscaler),
  webserverUrl: Option.fromNullable(webserver)
})

describe("halfLocalWarning (newcomer 35 #9: one URL of the local serverless, the other Vast's by default)", () => {
  it("names the flag given, the one left out and where it then goes", () => {
    expect(halfLocalWarning(given(null, "http://127.0.0.1:8080"), "prod")).toBe(
      "warning: --webserver-url is this machine but --autoscaler-url is not given, so it is https://run.vast.ai: for the local serverless give both (or --instance local)"
    )
    expect(halfLocalWarning(given("http://localhost:8080", null), "prod")).toContain("--autoscaler-url is this machine but --webserver-url is not given, so it is https://console.vast.ai")
  })

  it("says nothing when both are given, neither is, the one given is not this machine, or the instance is local too", () => {
    expect(halfLocalWarning(given("http://127.0.0.1:8080", "http://127.0.0.1:8080"), "prod")).toBeNull()
    expect(halfLocalWarning(given(null, null), "prod")).toBeNull()
    expect(halfLocalWarning(given(null, "https://console.vast.ai"), "prod")).toBeNull()
    expect(halfLocalWarning(given(null, "http://127.0.0.1:9090"), "local")).toBeNull()
  })

  it("for the doctor, which never calls the autoscaler, only a webserver left out is said (newcomer 36 #7)", () => {
    expect(halfLocalWarning(given(null, "http://127.0.0.1:8080"), "prod", false)).toBeNull()
    expect(halfLocalWarning(given("http://127.0.0.1:8080", null), "prod", false)).toContain("--webserver-url is not given")
  })
})
