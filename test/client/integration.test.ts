import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Queue, Redacted, Schema } from "effect"
import * as HttpStack from "../../src/client/httpClient.js"
import { VastClient } from "../../src/client/VastClient.js"
import { fakeAutoscaler } from "../support/fakeAutoscaler.js"
import { call, startReceiver, startWorker } from "../support/worker.js"
import { ENDPOINT_NAME, USER_KEY, fakeControlPlane } from "./fakeControlPlane.js"

const Debug = Schema.Struct({
  slots: Schema.Array(Schema.Struct({ session: Schema.NullOr(Schema.Struct({ session_id: Schema.String, request_idx: Schema.Number })) })),
  recent_closes: Schema.Array(Schema.Struct({ session_id: Schema.String, reason: Schema.String }))
})

describe("VastClient against a real worker (signatures checked) and a fake control plane", () => {
  it.scoped("lookup → route → create (with on_close) → ping → get → end, then 410s once the session is gone", () =>
    Effect.gen(function* () {
      const signer = yield* fakeAutoscaler
      const worker = yield* startWorker({}, { pubkeyUrl: `${signer.url}/pubkey/` })
      yield* worker.verifier.ready
      const plane = yield* fakeControlPlane(signer, [worker.publicUrl])
      const client = yield* Effect.provide(
        VastClient,
        VastClient.layer({ apiKey: Redacted.make(USER_KEY), webserverUrl: plane.url, autoscalerUrl: plane.url }).pipe(
          Layer.provide(HttpStack.layer(Option.none()))
        )
      )
      const debug = Effect.map(call(worker.controlUrl, "/debug", { method: "GET" }), (reply) => Schema.decodeUnknownSync(Debug)(reply.json))

      const receiver = yield* startReceiver()
      const endpoint = yield* client.findEndpoint(ENDPOINT_NAME)
      const session = yield* client.reserve({
        endpoint,
        cost: 100,
        lifetime: 30,
        onCloseRoute: `${receiver.url}/closed`,
        onClosePayload: { job_id: "j-1" },
        timeout: "1 minute"
      })
      assert.strictEqual(session.url, worker.publicUrl)
      assert.deepStrictEqual(
        (yield* debug).slots.map((slot) => slot.session),
        [{ session_id: session.sessionId, request_idx: session.requestIdx }]
      )
      // The worker checks the autoscaler's signature on /ping: auth_data went through untouched.
      yield* client.ping(session)
      const info = yield* client.getSession(session)
      assert.strictEqual(info.session_id, session.sessionId)
      assert.strictEqual(info.lifetime, 30)
      assert.strictEqual(yield* client.endSession(session), "ended")
      assert.deepInclude((yield* debug).recent_closes, { session_id: session.sessionId, reason: "ended" })
      const callback = yield* Queue.take(receiver.received)
      assert.strictEqual(callback.path, "/closed")
      assert.deepInclude(callback.body, { job_id: "j-1", session_id: session.sessionId })
      assert.strictEqual(yield* client.endSession(session), "already-closed")
      assert.deepInclude(yield* Effect.flip(client.ping(session)), { _tag: "SessionClosed" })
      assert.deepInclude(yield* Effect.flip(client.getSession(session)), { _tag: "SessionUnknown" })
    })
  )
})
