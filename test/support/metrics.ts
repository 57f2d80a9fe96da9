import { Effect, Schema } from "effect"
import { DeletionRecord } from "../../src/protocol/workerStatus.js"
import type { DeletionBatch, LoadMetrics } from "../../src/worker/autoscaler/LoadMetrics.js"
import type { WorkerMetrics } from "../../src/worker/metrics/WorkerMetrics.js"

const idle = { slots: { idle: 0, reserved: 0, retiring: 0, retired: 0 }, callbackPending: 0, ready: false, errored: false, draining: false, deletionsPending: 0 }

/**
 * One sample of the worker's Prometheus exposition: the value of `name` whose labels include `labels`
 * (0 when there is no such sample yet).
 */
export const sample = (metrics: WorkerMetrics, name: string, labels: Record<string, string> = {}) =>
  Effect.map(metrics.exposition(idle), (text) => {
    const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
    for (const line of text.split("\n")) {
      const match = /^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/.exec(line)
      if (match === null || match[1] !== name) continue
      const present = (match[2] ?? "").split(",")
      if (wanted.every((label) => present.includes(label))) return Number(match[3])
    }
    return 0
  })

const decodeRecords = Schema.decodeUnknownSync(Schema.parseJson(Schema.Array(DeletionRecord)))

/** The records of a `/delete_requests/` batch, decoded from the JSON text that goes on the wire. */
export const recordsOf = (batch: DeletionBatch): ReadonlyArray<DeletionRecord> => decodeRecords(batch.requestsJson)

/** The oldest `max` records waiting for `/delete_requests/`, as they would be sent. */
export const pendingRecords = (metrics: LoadMetrics, max: number) => Effect.map(metrics.pendingDeletions(max), recordsOf)
