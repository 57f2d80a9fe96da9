/**
 * What `null-worker-client autoscale` reports, one event per fact. With `--json` each is one JSON object
 * per line with `at` (ISO 8601) added. `reservation` numbers the daemon's reservations from 1 (adopted
 * ones keep the number they were created with).
 */

import { operationErrorLine, type OperationErrorEvent, type SessionClosedEvent } from "../events.js"

export type AutoscaleEvent =
  | {
      readonly event: "started"
      readonly endpoint: string
      readonly source: string
      readonly prefix: string
      readonly min: number
      readonly max: number
      readonly jobs_per_worker: number
      readonly activation: number
      readonly cooldown: number
    }
  /** Another daemon owns this prefix: this one waits until it can take over. */
  | { readonly event: "standby"; readonly prefix: string }
  | { readonly event: "adopted"; readonly reservation: number; readonly session_id: string; readonly url: string }
  /** A record from before the restart whose session is gone. */
  | { readonly event: "forgotten"; readonly reservation: number; readonly session_id: string; readonly reason: string }
  | {
      /** The decision changed: the backlog, what it asks for, what is held. */
      readonly event: "scale"
      readonly waiting: number | null
      readonly in_flight: number | null
      readonly desired: number | null
      readonly target: number
      readonly held: number
      readonly reserving: number
      /** Sessions whose worker drains, or does not answer: not counted in `held`. */
      readonly draining: number
      readonly unreachable: number
      readonly start: number
      readonly cancel: number
      readonly limited: "rate" | "backoff" | null
    }
  | { readonly event: "reserving"; readonly reservation: number }
  | {
      readonly event: "created"
      readonly reservation: number
      readonly session_id: string
      readonly url: string
      readonly generation: number | null
      /** Epoch seconds. */
      readonly expiration: number
    }
  | {
      readonly event: "pinged"
      readonly reservation: number
      readonly session_id: string
      /** Epoch seconds: the new deadline. */
      readonly expiration: number
    }
  | { readonly event: "cancelled"; readonly reservation: number }
  | { readonly event: "draining"; readonly reservation: number; readonly session_id: string; readonly url: string }
  /** The session is over: its consumer released it, or its worker closed or lost it. */
  | SessionClosedEvent
  /** `fatal`: the daemon stops on it (an endpoint that does not exist, a refused key), exit 1. */
  | (OperationErrorEvent & { readonly fatal?: true })
  | { readonly event: "stopping"; readonly held: number; readonly reserving: number }
  | { readonly event: "stopped"; readonly held: number; readonly unrecorded: number }

const orDash = (value: number | null): string => (value === null ? "?" : String(value))

/** One line of prose for `event`. */
export const describeAutoscale = (event: AutoscaleEvent): string => {
  const tag = "reservation" in event && event.reservation !== undefined ? `#${event.reservation} ` : ""
  switch (event.event) {
    case "started":
      return `autoscaling ${event.endpoint} on ${event.source}: N = clamp(ceil(backlog / ${event.jobs_per_worker}), ${event.min}, ${event.max}), activation above ${event.activation}, cool-down ${event.cooldown} s (state under ${event.prefix})`
    case "standby":
      return `another daemon owns ${event.prefix}: waiting to take over`
    case "adopted":
      return `${tag}adopted session ${event.session_id} on ${event.url} (held before the restart)`
    case "forgotten":
      return `${tag}session ${event.session_id} from before the restart is gone: ${event.reason}`
    case "scale": {
      const limits = event.limited === null ? "" : ` (held back: ${event.limited === "rate" ? "scale-out rate" : "back-off after failures"})`
      const actions = [event.start > 0 ? `start ${event.start}` : "", event.cancel > 0 ? `cancel ${event.cancel}` : ""].filter((part) => part !== "")
      return `backlog ${orDash(event.waiting)} waiting + ${orDash(event.in_flight)} in flight → desired ${orDash(event.desired)}, kept ${event.target}; held ${event.held}${event.reserving > 0 ? ` (+${event.reserving} reserving)` : ""}${event.draining > 0 ? `, ${event.draining} draining` : ""}${event.unreachable > 0 ? `, ${event.unreachable} not answering` : ""}${actions.length > 0 ? `: ${actions.join(", ")}` : ""}${limits}`
    }
    case "reserving":
      return `${tag}reserving a worker`
    case "created":
      return `${tag}created session ${event.session_id} on ${event.url}${event.generation === null ? "" : ` (generation ${event.generation})`}`
    case "pinged":
      return `${tag}pinged session ${event.session_id}`
    case "cancelled":
      return `${tag}reservation cancelled before it got a worker`
    case "draining":
      return `${tag}worker ${event.url} is draining: session ${event.session_id} closes soon`
    case "closed":
      return `${tag}session ${event.session_id} closed: ${event.reason}`
    case "error":
      return tag + operationErrorLine("error", event.operation, event.message)
    case "stopping":
      return `stopping: ${event.held} session(s) left to their consumers (released when idle, or adopted by the next start); ${event.reserving} reservation(s) without a worker given up`
    case "stopped":
      if (event.held === 0) return "stopped (no session held)"
      if (event.unrecorded === 0) return `stopped (${event.held} session(s) open at their last ping, recorded for the next start)`
      return `stopped (${event.held} session(s) open at their last ping; ${event.unrecorded} could not be recorded, so the next start cannot adopt them: they end at their lifetime or when their consumer releases them)`
  }
}
