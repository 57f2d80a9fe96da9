import { describe, expect, it } from "vitest"
import { autoscalerUrl } from "../../../src/worker/autoscaler/autoscalerUrl.js"

describe("autoscalerUrl", () => {
  it.each([
    ["http://127.0.0.1:9101", "http://127.0.0.1:9101/worker_status/"],
    ["https://run.vast.ai/base", "https://run.vast.ai/base/worker_status/"],
    ["http://user:pw@h:1/?token=t", "http://user:pw@h:1/worker_status/?token=t"],
    ["http://h/base//?token=t#frag", "http://h/base/worker_status/?token=t#frag"],
    ["not a url", "not a url/worker_status/"]
  ])("%s → %s", (addr, expected) => {
    expect(autoscalerUrl(addr, "/worker_status/")).toBe(expected)
  })
})
