/**
 * An `HttpClient` over Node's agents that keeps connections open between calls. The worker posts to the
 * same autoscaler every second or so (and, over HTTPS, a new connection is a TLS handshake each time);
 * the client polls one `/route/`. Node's agent drops a kept connection when the server closes it and
 * honours the server's `Keep-Alive: timeout` hint, so a connection is not reused after the server gave it up.
 */
import type { HttpClient } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Layer } from "effect"

export const keepAliveHttpClient = (options: { readonly ca?: ReadonlyArray<string> } = {}): Layer.Layer<HttpClient.HttpClient> =>
  NodeHttpClient.layerWithoutAgent.pipe(
    Layer.provide(NodeHttpClient.makeAgentLayer(options.ca === undefined ? { keepAlive: true } : { keepAlive: true, ca: [...options.ca] }))
  )
