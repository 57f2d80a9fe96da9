/**
 * The callback outbox's `HttpClient`: agents whose connections never reach the worker's own listeners. (Not
 * kept alive: the outbox aborts each response once it has the status, which closes the connection anyway.)
 * (The health prober and the key fetch use the worker's plain client: a consumer's health URL may be on this host.)
 *
 * A callback's URL is the session creator's. Checking it as written, at create, misses a name that resolves to
 * this machine (`http://<hostname>:18999/recycle`) and a redirect to one, so the check is made here, on the
 * address each connection is about to use, after DNS: the address checked is the address connected to, for
 * every hop. A refused connection fails with `SELF_TARGET_REFUSED` as its code, which the callback poster
 * treats as final.
 */
import { lookup as dnsLookup } from "node:dns"
import { type ClientRequestArgs, Agent as HttpAgent } from "node:http"
import { Agent as HttpsAgent } from "node:https"
import { isIP, type LookupFunction } from "node:net"
import type { Duplex } from "node:stream"
import type { HttpClient } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Effect, Layer, type Scope } from "effect"
import { closeUpgraded } from "../../shared/closeUpgraded.js"
import { unsafeMonotonicMillis } from "../../shared/monotonic.js"
import type { WorkerConfig } from "../config/WorkerConfig.js"
import { callbackLookups, limitLookups, threadPoolSize } from "./lookupLimit.js"
import { isSelfHost, SELF_TARGET_REASON, SELF_TARGET_REFUSED, type SelfAddresses, WorkerSelf } from "./selfTarget.js"

/** The error a refused connection fails with; its message names no URL (one may carry credentials). */
const refused = (): NodeJS.ErrnoException =>
  Object.assign(new Error(SELF_TARGET_REASON), { code: SELF_TARGET_REFUSED })

/** Node's own `oncreate` takes no stream with an error. */
export type Connected = (error: Error | null, stream?: Duplex) => void
const ignore: Connected = () => undefined
export type Connect = (options: ClientRequestArgs, connected: Connected) => Duplex | null | undefined

/**
 * `connect` with the destination checked: an address literal at once, a name through the lookup the connection
 * uses. Connections to other ports (all but a handful) pass untouched.
 */
export const guardedConnect = (self: SelfAddresses, resolve: LookupFunction, connect: Connect): Connect => (options, connected) => {
  if (!self.ports.has(Number(options.port))) return connect(options, connected)
  // Node's client gives the host without brackets (`::1`, not `[::1]`), as `isIP` wants it.
  const host = options.host ?? "localhost"
  if (isIP(host) !== 0) {
    if (!isSelfHost(host, self)) return connect(options, connected)
    connected(refused())
    return undefined
  }
  const lookup: LookupFunction = options.lookup ?? resolve
  const checkedLookup: LookupFunction = (hostname, lookupOptions, done) =>
    lookup(hostname, lookupOptions, (error, address, family) => {
      if (error !== null) return done(error, address, family)
      const addresses = typeof address === "string" ? [address] : address.map((entry) => entry.address)
      // With an error, net reads no address.
      if (addresses.some((entry) => isSelfHost(entry, self))) return done(refused(), [])
      done(null, address, family)
    })
  return connect({ ...options, lookup: checkedLookup }, connected)
}

/** The agent, its connections checked first, and every name it connects to looked up through `resolve`. */
const guarded = <A extends HttpAgent>(agent: A, self: SelfAddresses, resolve: LookupFunction): A => {
  const connect = agent.createConnection.bind(agent)
  const checked = guardedConnect(self, resolve, (options, connected) => connect(options, connected))
  agent.createConnection = (options, connected) => checked({ ...options, lookup: options.lookup ?? resolve }, (connected ?? ignore) as Connected)
  return closeUpgraded(agent)
}

/**
 * Agents that refuse the worker's own listeners, closed with the scope. `resolve` is DNS (tests give their own); both
 * agents' lookups share one limit (`lookupLimit.ts`), so that callback hosts with hanging DNS cannot take the thread
 * pool from the worker's own health checks and reports.
 */
export const guardedAgents = (self: SelfAddresses, resolve: LookupFunction = dnsLookup): Effect.Effect<NodeHttpClient.HttpAgent, never, Scope.Scope> =>
  Effect.flatMap(Effect.clock, (clock) => {
    const limited = limitLookups(resolve, callbackLookups(threadPoolSize()), () => unsafeMonotonicMillis(clock))
    return Effect.all([
      Effect.acquireRelease(Effect.sync(() => guarded(new HttpAgent(), self, limited)), (agent) => Effect.sync(() => agent.destroy())),
      Effect.acquireRelease(Effect.sync(() => guarded(new HttpsAgent(), self, limited)), (agent) => Effect.sync(() => agent.destroy()))
    ])
  }).pipe(Effect.map(
    ([http, https]) => NodeHttpClient.HttpAgent.of({ [NodeHttpClient.HttpAgentTypeId]: NodeHttpClient.HttpAgentTypeId, http, https })
  ))

// `fresh`: layers are shared by reference, and the worker's plain client is built from the same
// `layerWithoutAgent`; without it the outbox would get that client, over agents that check nothing.
export const callbackHttpClient: Layer.Layer<HttpClient.HttpClient, never, WorkerConfig> = Layer.fresh(NodeHttpClient.layerWithoutAgent).pipe(
  Layer.provide(Layer.scoped(NodeHttpClient.HttpAgent, Effect.flatMap(WorkerSelf, guardedAgents))),
  Layer.provide(WorkerSelf.Default)
)
