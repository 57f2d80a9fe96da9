import { assert, describe, it } from "@effect/vitest"
import { signedMessage } from "../../src/protocol/signedMessage.js"

describe("signedMessage", () => {
  it("is Python's indented, sorted json.dumps of {url}: the 42-byte example", () => {
    const message = signedMessage("https://203.0.113.7:41234")
    assert.strictEqual(message, '{\n    "url": "https://203.0.113.7:41234"\n}')
    assert.strictEqual(Buffer.byteLength(message, "utf8"), 42)
  })

  it("escapes like Python's ensure_ascii (vector from Python 3.11 json.dumps)", () => {
    const url = 'https://h/a"b\\c\nd\te\u0001f\u007fg\u00e9h\u20aci\u{1F600}j/k\r\b\f'
    // Written out by hand as Python prints it; `/` stays raw, hex digits are lowercase.
    const expected = [
      "{",
      String.raw`    "url": "https://h/a\"b\\c\nd\te\u0001f\u007fg\u00e9h\u20aci\ud83d\ude00j/k\r\b\f"`,
      "}"
    ].join("\n")
    assert.strictEqual(signedMessage(url), expected)
  })

  it("escapes every other control character, DEL and lone surrogates as \\u00XX / \\uXXXX", () => {
    assert.strictEqual(signedMessage("\u0000\u001f\u000b\u007f"), '{\n    "url": "\\u0000\\u001f\\u000b\\u007f"\n}')
    assert.strictEqual(signedMessage("\ud800x\udfff"), '{\n    "url": "\\ud800x\\udfff"\n}')
    assert.strictEqual(signedMessage("\u00ff\u0100\uabcd\uffff"), '{\n    "url": "\\u00ff\\u0100\\uabcd\\uffff"\n}')
  })

  it("leaves printable ASCII as JSON.stringify does, and is always pure ASCII", () => {
    const printable = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).join("")
    assert.strictEqual(signedMessage(printable), `{\n    "url": ${JSON.stringify(printable)}\n}`)
    const everything = Array.from({ length: 0x300 }, (_, i) => String.fromCharCode(i)).join("") + "\u{1F600}"
    assert.match(signedMessage(everything), /^[\n\u0020-\u007e]*$/)
  })
})
