/**
 * Which client connection a `/route/` poll came over, so that a waiting request can be given up as
 * soon as its client goes away instead of when it stops polling.
 *
 * Only connections the client has kept open between polls are tracked: those that carried a second request.
 * For them a close means the client left (it exited, or it was interrupted mid-poll). A keep-alive request
 * alone proves nothing: many clients (`requests.post` without a session, a fresh `http.client` connection)
 * ask for keep-alive and close the connection after each answer, which says nothing; their requests are
 * given up when they are not polled again in time (`ControlPlane`). The server must keep idle connections
 * open longer than a client waits between polls (see `main.ts`), so that a close is always the client's.
 */
import type { Socket } from "node:net"
import type { HttpServerRequest } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Effect, FiberSet } from "effect"
import { ControlPlane } from "./ControlPlane.js"

export class ClientConnections extends Effect.Service<ClientConnections>()("serverless/ClientConnections", {
  scoped: Effect.gen(function* () {
    const plane = yield* ControlPlane
    // Close notifications run in fibers of this set: interrupted, not leaked, when the serverless stops.
    const run = yield* FiberSet.runtime(yield* FiberSet.make())<never>()
    /** A connection's id once it carried a second request; `null` after its first. */
    const ids = new WeakMap<Socket, number | null>()
    let next = 1

    return {
      /**
       * The id of the connection `request` came over, when the client has kept it open; null otherwise.
       * From a connection's second request on, its close is watched.
       */
      identify: (request: HttpServerRequest.HttpServerRequest) =>
        Effect.sync((): number | null => {
          // Node decided from the request (version, `Connection` header) whether the connection stays open.
          if (!NodeHttpServerRequest.toServerResponse(request).shouldKeepAlive) return null
          const socket = NodeHttpServerRequest.toIncomingMessage(request).socket
          const known = ids.get(socket)
          if (known === undefined) {
            ids.set(socket, null)
            return null
          }
          if (known !== null) return known
          const id = next++
          ids.set(socket, id)
          socket.once("close", () => {
            run(plane.connectionClosed(id).pipe(Effect.catchAllCause((cause) => Effect.logError("connection close", cause))))
          })
          return id
        })
    }
  })
}) {}
