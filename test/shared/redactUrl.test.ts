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
  const TAG = "\\([0-9a-f]{6}\\)"
  it.each([
    ["a webhook's key in its path (review 54 L6)", "https://hooks.slack.com/services/T0/B0/s3cretKey", `^https://hooks\\.slack\\.com/services/… ${TAG}$`],
    ["credentials and a query go too", "https://u:p@discord.com/api/webhooks/1/tok?wait=true", `^https://discord\\.com/api/… ${TAG}$`],
    ["a first segment that is no plain word goes too (review 55 M2: a bot token)", "https://api.telegram.org/bot123:s3cret/sendMessage", `^https://api\\.telegram\\.org/… ${TAG}$`],
    ["so does a lone one (a check's uuid)", "https://hc-ping.com/0f1e2d3c-tok", `^https://hc-ping\\.com/… ${TAG}$`],
    ["an empty first segment is not shown as one", "https://h//s3cret", `^https://h/… ${TAG}$`],
    ["and one past 24 characters (probe 50 L1)", `https://h/${"a".repeat(25)}`, `^https://h/… ${TAG}$`],
    ["a plain word alone is shown as redactUrl shows it", "https://u:p@you.example/done?k=1", "^https://you\\.example/done\\?…$"],
    ["and so is a root or a trailing slash", "http://127.0.0.1:9/cb/", "^http://127\\.0\\.0\\.1:9/cb/$"],
    ["no path", "http://127.0.0.1:9", "^http://127\\.0\\.0\\.1:9$"],
    ["not a URL", "not a url", "^<invalid URL>$"]
  ])("%s", (_, url, shown) => {
    assert.match(redactRoute(url), new RegExp(shown))
    for (const secret of ["s3cret", "tok", "123"]) assert.notInclude(redactRoute(url), secret)
  })

  it("two routes that differ in what is hidden are shown apart; the same route the same way", () => {
    assert.notStrictEqual(redactRoute("https://h/services/a"), redactRoute("https://h/services/b"))
    assert.notStrictEqual(redactRoute("https://h/services/a?x=1"), redactRoute("https://h/services/a?x=2"))
    // Where the slashes fall counts too.
    assert.notStrictEqual(redactRoute("https://h/services/ab"), redactRoute("https://h/services/a/b"))
    assert.notStrictEqual(redactRoute("https://h/1/ab"), redactRoute("https://h/1a/b"))
    assert.strictEqual(redactRoute("https://h/services/a"), redactRoute("https://h/services/a"))
  })

  it("the tag is keyed: it is not the hidden text's plain SHA-256, which anyone could compute from a guess", () => {
    const tag = /\(([0-9a-f]{6})\)$/.exec(redactRoute("https://h/services/T0/B0/key"))?.[1]
    assert.notStrictEqual(tag, sha256Hex("T0/B0/key").slice(0, 6))
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
