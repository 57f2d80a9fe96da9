/** SHA-256 of a text (UTF-8), one-shot where Node has it (≥ 20.12): no Hash object per call. */
import * as crypto from "node:crypto"

const oneShot: ((algorithm: string, data: string, encoding: "hex" | "buffer") => string | Buffer) | undefined = Reflect.get(crypto, "hash")

export const sha256 = (text: string): Buffer =>
  oneShot === undefined ? crypto.createHash("sha256").update(text, "utf8").digest() : (oneShot("sha256", text, "buffer") as Buffer)

export const sha256Hex = (text: string): string =>
  oneShot === undefined ? crypto.createHash("sha256").update(text, "utf8").digest("hex") : (oneShot("sha256", text, "hex") as string)
