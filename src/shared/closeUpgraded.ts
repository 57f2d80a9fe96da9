/**
 * Connections a server took for another protocol (`101 Switching Protocols`) closed at once. `@effect/platform-node`
 * reads such an answer as a response, and the socket Node hands over with it stays open with nothing to close it: one
 * more with each answer (probe 54 #1: a callback receiver answering `101` used up the worker's descriptors in seconds,
 * and its health checks then failed with `EMFILE`). Node detaches an upgraded socket from its agent by emitting
 * `agentRemove` on it, which nothing else here emits: no call of ours wants the connection after that.
 */
import type { Agent as HttpAgent } from "node:http"
import type { Duplex } from "node:stream"
import type { HttpClient } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type { AgentOptions } from "node:https"
import { Effect, Layer } from "effect"

const closeWhenDetached = (socket: Duplex | null | undefined): void => {
  socket?.once("agentRemove", () => socket.destroy())
}

/** `agent`, each connection it makes from now on closed once an upgrade detaches it. */
export const closeUpgraded = <A extends HttpAgent>(agent: A): A => {
  const create = agent.createConnection.bind(agent)
  agent.createConnection = (options, connected) => {
    let returned: Duplex | null | undefined
    // A connection may come back by the callback instead (made later): watched there, once.
    const socket = create(options, (error: Error | null, stream?: Duplex) => {
      if (stream !== undefined && stream !== returned) closeWhenDetached(stream)
      connected?.(error, stream as Duplex)
    })
    returned = socket
    closeWhenDetached(socket)
    return socket
  }
  return agent
}

/** `NodeHttpClient.makeAgentLayer`, its two agents' upgraded connections closed. */
export const agentLayerClosingUpgraded = (options?: AgentOptions): Layer.Layer<NodeHttpClient.HttpAgent> =>
  Layer.scoped(
    NodeHttpClient.HttpAgent,
    Effect.map(NodeHttpClient.makeAgent(options), (agent) => NodeHttpClient.HttpAgent.of({ ...agent, http: closeUpgraded(agent.http), https: closeUpgraded(agent.https) }))
  )

/** `NodeHttpClient.layer`, over those agents. */
export const httpClientClosingUpgraded = (): Layer.Layer<HttpClient.HttpClient> => NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(agentLayerClosingUpgraded()))
