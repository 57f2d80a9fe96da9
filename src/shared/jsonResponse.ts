import { HttpServerResponse } from "@effect/platform"
import { jsonText } from "./exactJson.js"

/**
 * A JSON answer, serialised as text (measurably cheaper per request than `unsafeJson`); an integer past 2^53 that came
 * in (a callback's payload in the sink) goes out with its digits, not rounded.
 */
export const json = (status: number, body: unknown): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(jsonText(body) ?? "null", { status, contentType: "application/json" })
