import { describe, expect, it } from "vitest"
import { headerText } from "../../src/shared/headerText.js"

/** A header's text as Node hands it over: each byte one Latin-1 character. */
const asNodeReads = (bytes: Buffer): string => bytes.toString("latin1")

describe("headerText", () => {
  it("ASCII is read as it came", () => {
    expect(headerText("Bearer tok-1_~")).toBe("Bearer tok-1_~")
    expect(headerText("")).toBe("")
  })

  it("UTF-8 bytes are read as the text the client wrote", () => {
    for (const text of ["é", "Bearer tök€n", "秘密", "🔑 key"]) {
      expect(headerText(asNodeReads(Buffer.from(text, "utf8")))).toBe(text)
    }
  })

  it("bytes that are not UTF-8 are no text at all: a lone Latin-1 é, a cut sequence, and two different invalid bytes do not match each other", () => {
    expect(headerText(asNodeReads(Buffer.from([0xe9])))).toBeUndefined()
    expect(headerText(asNodeReads(Buffer.from([0x61, 0xe2, 0x82])))).toBeUndefined()
    expect(headerText(asNodeReads(Buffer.from([0xff])))).toBeUndefined()
    expect(headerText(asNodeReads(Buffer.from([0xfe])))).toBeUndefined()
  })
})
