import { HttpServerResponse } from "@effect/platform"

/** A JSON answer, serialised as text (measurably cheaper per request than `unsafeJson`). */
export const json = (status: number, body: unknown): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(JSON.stringify(body), { status, contentType: "application/json" })
