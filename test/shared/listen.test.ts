import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { boundedRequestText, MAX_REQUEST_BYTES } from "../../src/shared/boundedRequest.js"
import { serveApp, serverLayer } from "../../src/shared/listen.js"

/** Serve `app` with `serveApp` on a free loopback port while `use` runs. */
const withServer = <E, A>(app: HttpRouter.HttpRouter<E>, use: (url: string) => Promise<A>): Promise<A> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const context = yield* Layer.build(serveApp(app, "test", { announce: false }).pipe(Layer.provideMerge(serverLayer({ name: "test", host: "127.0.0.1", port: 0 }))))
        const url = yield* HttpServer.addressWith((address) => Effect.succeed(address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "")).pipe(
          Effect.provide(context)
        )
        return yield* Effect.promise(() => use(url))
      })
    )
  )

const post = (url: string, bytes: number) =>
  fetch(url, { method: "POST", body: "x".repeat(bytes) }).then(
    async (response) => ({ status: response.status, text: await response.text() }),
    () => ({ status: 0, text: "connection closed" })
  )

describe("serveApp and boundedRequestText: request bodies are read within MAX_REQUEST_BYTES", () => {
  it("the platform's own readers stop at the limit (the connection is closed); below it they read the body", async () => {
    const app = HttpRouter.empty.pipe(
      HttpRouter.post("/text", Effect.map(Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => request.text), (text) => HttpServerResponse.text(String(text.length))))
    )
    const [under, over] = await withServer(app, async (url) => [await post(`${url}/text`, MAX_REQUEST_BYTES), await post(`${url}/text`, MAX_REQUEST_BYTES + 1)])
    expect(under).toEqual({ status: 200, text: String(MAX_REQUEST_BYTES) })
    expect(over.status === 200).toBe(false)
  })

  it("boundedRequestText fails with BodyTooLarge at the first byte over, and the server can still answer", async () => {
    const app = HttpRouter.empty.pipe(
      HttpRouter.post(
        "/bounded",
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => boundedRequestText(request, 1000)).pipe(
          Effect.map((text) => HttpServerResponse.text(`read ${text.length}`)),
          Effect.catchTag("BodyTooLarge", (error) => Effect.succeed(HttpServerResponse.text(error.message, { status: 413, headers: { connection: "close" } })))
        )
      )
    )
    const answers = await withServer(app, async (url) => [await post(`${url}/bounded`, 1000), await post(`${url}/bounded`, 1001), await post(`${url}/bounded`, 200_000)])
    expect(answers).toEqual([
      { status: 200, text: "read 1000" },
      { status: 413, text: "the body is larger than 1 KB" },
      { status: 413, text: "the body is larger than 1 KB" }
    ])
  })
})
