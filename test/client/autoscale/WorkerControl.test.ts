import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import { WorkerControl } from "../../../src/client/autoscale/WorkerControl.js"
import { freePort } from "../../support/process.js"

describe("WorkerControl", () => {
  it.live("a control port that refuses the connection is named with Node's errno, not only as a transport error", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const failed = yield* Effect.flatMap(WorkerControl, (control) => Effect.either(control.sessions(Option.none(), 1))).pipe(
        Effect.provide(WorkerControl.layer(`http://127.0.0.1:${port}`))
      )
      assert.isTrue(Either.isLeft(failed))
      if (Either.isLeft(failed)) assert.match(failed.left.message, new RegExp(`^worker control GET /sessions: .*127\\.0\\.0\\.1:${port}.*: ECONNREFUSED$`))
    }).pipe(Effect.provide(NodeHttpClient.layerUndici))
  )
})
