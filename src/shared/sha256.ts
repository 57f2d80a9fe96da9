/** SHA-256 of a text (UTF-8), one-shot where Node has it (≥ 20.12): no Hash object per call. */
import * as crypto from "node:crypto"

const oneShotHex: ((algorithm: string, data: string, encoding: "hex") => string) | undefined = Reflect.get(crypto, "hash")
const oneShotBytes: ((algorithm: string, data: string, encoding: "buffer") => Buffer) | undefined = Reflect.get(crypto, "hash")

export const sha256 = (text: string): Buffer =>
  oneShotBytes === undefined ? crypto.createHash("sha256").update(text, "utf8").digest() : oneShotBytes("sha256", text, "buffer")

export const sha256Hex = (text: string): string =>
  oneShotHex === undefined ? crypto.createHash("sha256").update(text, "utf8").digest("hex") : oneShotHex("sha256", text, "hex")
