import { assert, describe, it } from "@effect/vitest"
import { redactUrl } from "../../src/shared/redactUrl.js"

describe("redactUrl", () => {
  it.each([
    ["https://user:pass@cb.example/notify?api_key=s3cret", "https://cb.example/notify?…"],
    ["http://cb.example:8080/a/b", "http://cb.example:8080/a/b"],
    ["http://127.0.0.1:9", "http://127.0.0.1:9"],
    ["http://127.0.0.1:9/#frag", "http://127.0.0.1:9/"],
    ["not a url", "<invalid URL>"]
  ])("%s → %s", (url, shown) => {
    assert.strictEqual(redactUrl(url), shown)
  })
})
