/**
 * An `HttpClient` over Node's agents that keeps connections open between calls. The worker sends health probes
 * to the same server again and again (over HTTPS a new connection is a TLS handshake); the client polls one
 * `/route/`. (Callbacks have a client of their own, `worker/callbacks/callbackHttpClient.ts`.) (The worker's autoscaler posts use `worker/autoscaler/jsonPost.ts`.) Node's agent drops a kept connection when the server closes it and
 * honours the server's `Keep-Alive: timeout` hint, so a connection is not reused after the server gave it up.
 */
import type { LookupFunction } from "node:net"
import type { HttpClient } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Layer } from "effect"
import { agentLayerClosingUpgraded } from "./closeUpgraded.js"

/** `lookup`: how its connections find a host's addresses (Node's `dns.lookup` when not given). */
export const keepAliveHttpClient = (options: { readonly ca?: ReadonlyArray<string>; readonly lookup?: LookupFunction } = {}): Layer.Layer<HttpClient.HttpClient> =>
  NodeHttpClient.layerWithoutAgent.pipe(
    Layer.provide(
      agentLayerClosingUpgraded({
        keepAlive: true,
        ...(options.ca === undefined ? {} : { ca: [...options.ca] }),
        ...(options.lookup === undefined ? {} : { lookup: options.lookup })
      })
    )
  )
