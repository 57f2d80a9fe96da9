import { assert, describe, it } from "@effect/vitest"
import { PRINTABLE_MAX, printable, printableDeep } from "../../src/shared/printable.js"

describe("printable", () => {
  it.each([
    ["s-1 on http://w1:5000", "s-1 on http://w1:5000"],
    ["\u001b[2Jclear", "\\x1b[2Jclear"],
    ["title\u001b]0;x\u0007", "title\\x1b]0;x\\x07"],
    ["one\ntwo\r", "one\\x0atwo\\x0d"],
    ["del\u007f c1\u009b", "del\\x7f c1\\x9b"],
    ["rtl\u202eabc\u2066", "rtl\\u202eabc\\u2066"],
    ["café 日本 ✓", "café 日本 ✓"]
  ])("%j → %j", (text, shown) => {
    assert.strictEqual(printable(text), shown)
  })

  it("hides the credentials and query of URLs inside the text", () => {
    assert.strictEqual(
      printable("Transport error (POST http://u:PW@h:9/route/?t=TOKEN): connect ECONNREFUSED"),
      "Transport error (POST http://h:9/route/?…): connect ECONNREFUSED"
    )
  })

  it("shows at most PRINTABLE_MAX characters of a text, and says how many more there were", () => {
    const id = "a.".repeat(500_000)
    const shown = printable(id)
    assert.strictEqual(shown, `${id.slice(0, PRINTABLE_MAX)}… (${id.length - PRINTABLE_MAX} more characters)`)
  })

  it("printableDeep applies to every string of objects and arrays, and keeps other values", () => {
    assert.deepStrictEqual(printableDeep({ a: "x\u0007", b: [1, "\u001b", null, { c: "http://u:p@h/" }], d: true }), {
      a: "x\\x07",
      b: [1, "\\x1b", null, { c: "http://h/" }],
      d: true
    })
  })
})
