import { assert, describe, it } from "@effect/vitest"
import { sha256Hex } from "../../src/shared/sha256.js"
import { redactRoute, redactUrl, redactUrlsIn } from "../../src/shared/redactUrl.js"

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

describe("redactRoute", () => {
  const tag = (hidden: string) => sha256Hex(hidden).slice(0, 6)
  it.each([
    ["a webhook's key in its path (review 54 L6)", "https://hooks.slack.com/services/T0/B0/s3cretKey", `https://hooks.slack.com/services/… (${tag("T0/B0/s3cretKey")})`],
    ["credentials and a query go too", "https://u:p@discord.com/api/webhooks/1/tok?wait=true", `https://discord.com/api/… (${tag("webhooks/1/tok?wait=true")})`],
    ["a path of one segment is shown as redactUrl shows it", "https://u:p@you.example/done?k=1", "https://you.example/done?…"],
    ["and so is a root or a trailing slash", "http://127.0.0.1:9/cb/", "http://127.0.0.1:9/cb/"],
    ["no path", "http://127.0.0.1:9", "http://127.0.0.1:9"],
    ["a first segment past 64 characters is cut there (probe 50 L1)", `https://h/${"a".repeat(70)}`, `https://h/${"a".repeat(64)}… (${tag("aaaaaa")})`],
    ["with what follows it", `https://h/${"a".repeat(70)}/b`, `https://h/${"a".repeat(64)}… (${tag("aaaaaab")})`],
    ["not a URL", "not a url", "<invalid URL>"]
  ])("%s", (_, url, shown) => {
    assert.strictEqual(redactRoute(url), shown)
    assert.notInclude(redactRoute(url), "s3cret")
    assert.notInclude(redactRoute(url), "tok")
  })

  it("two routes that differ past their first segment are shown apart", () => {
    assert.notStrictEqual(redactRoute("https://h/services/a"), redactRoute("https://h/services/b"))
  })
})

describe("redactUrlsIn", () => {
  it.each([
    ["no url here", "no url here"],
    ["see http://h:1/a/b.", "see http://h:1/a/b."],
    ["see (http://u:p@h:1/a?x=1), then", "see (http://h:1/a?…), then"],
    ["https://h/#frag and redis://:pw@r:6379/0", "https://h/ and redis://r:6379/0"],
    ["http://[bad", "http://[bad"],
    ["(http://u:p@h/a), then", "(http://h/a), then"],
    ["user only http://u@h/a password only http://:pw@h/b", "user only http://h/a password only http://h/b"],
    ["query only http://h/a?q=1 fragment only http://h/b#f", "query only http://h/a?… fragment only http://h/b"],
    ["kept as written: HTTP://Host:1/x", "kept as written: HTTP://Host:1/x"],
    [`a quote inside: http://h/with"quote?tok=1 and 'http://u:p@h/x'`, `a quote inside: http://h/with%22quote?… and 'http://h/x'`],
    [`in JSON: {"url":"http://h/?t=1"}`, `in JSON: {"url":"http://h/?…"}`],
    // A URL that does not parse is hidden all the same: cut short by a snippet, or a port followed by more JSON.
    ["cut: https://admin:hunter2@proxy.i…", "cut: https://proxy.i…"],
    [`{"upstream":"http://admin:hunter2@10.0.0.5:8080","retry":true}`, `{"upstream":"http://10.0.0.5:8080","retry":true}`],
    ["bad port: http://u:pw@h:99999/x?token=T", "bad port: http://h:99999/x?…"],
    ["bad port, no user: http://h:99999/x?token=T", "bad port, no user: http://h:99999/x?…"]
  ])("%j → %j", (text, shown) => {
    assert.strictEqual(redactUrlsIn(text), shown)
  })
})
