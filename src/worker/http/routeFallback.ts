/**
 * Answers for requests no route took: 405 (with `Allow`) for a known path with another method, 404
 * otherwise. Routing uses the path only; query strings (the SDK adds `?api_key=`) are ignored.
 */
import { type HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { json } from "./errorResponse.js"

/** `allowed` maps each served path to its method (`"POST"`). */
export const withFallback = <E, R>(router: HttpRouter.HttpRouter<E, R>, allowed: ReadonlyMap<string, string>) =>
  Effect.catchTag(router, "RouteNotFound", () =>
      Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
        const path = request.url.split("?", 1)[0] ?? request.url
        const allow = allowed.get(path)
        return allow === undefined
          ? json(404, { error: "not found" })
          : HttpServerResponse.setHeader(json(405, { error: "method not allowed" }), "allow", allow)
      })
  )
