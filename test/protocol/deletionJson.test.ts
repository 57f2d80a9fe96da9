import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc, Schema } from "effect"
import { DeleteRequestsBody, DeletionRecord, deleteRequestsJson, deletionRecordJson } from "../../src/protocol/workerStatus.js"

const encodeRecord = Schema.encodeSync(DeletionRecord)
const encodeBody = Schema.encodeSync(DeleteRequestsBody)

/** Times as the worker has them: epoch milliseconds from a clock, divided by 1000; and the edges. */
const seconds = fc.oneof(
  fc.integer({ min: 0, max: 4_102_444_800_000 }).map((millis) => millis / 1000),
  fc.double({ min: 0, max: 1e12, noNaN: true }),
  fc.constantFrom(0, -0, 1e21, 1.5e-7, 1786000000.1, 2 ** 53)
)
const record = fc.record({
  request_idx: fc.oneof(fc.integer(), fc.constantFrom(0, -0, 2 ** 53 - 1, -(2 ** 53) + 1)),
  success: fc.boolean(),
  status: fc.constantFrom("Success" as const, "Error" as const, "Cancelled" as const, "Rejected" as const),
  entered_queue_at: seconds,
  work_started_at: seconds,
  work_completed_at: seconds
})

const written = (r: typeof DeletionRecord.Type) =>
  deletionRecordJson(r.request_idx, r.success, r.status, r.entered_queue_at, r.work_started_at, r.work_completed_at)

describe("deletion records written as text", () => {
  it("each record is byte for byte what JSON.stringify writes for the Schema's encoded record", () => {
    fc.assert(
      fc.property(record, (r) => {
        assert.strictEqual(written(r), JSON.stringify(encodeRecord(r)))
      }),
      { numRuns: 20_000 }
    )
  })

  it("the /delete_requests/ body around them is byte for byte JSON.stringify of the Schema's encoded body", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0 }), fc.string(), fc.array(record, { maxLength: 5 }), (id, mtoken, records) => {
        const text = deleteRequestsJson({ id, mtoken }, `[${records.map(written).join(",")}]`)
        assert.strictEqual(text, JSON.stringify(encodeBody({ worker_id: id, mtoken, requests: records })))
      }),
      { numRuns: 5_000 }
    )
  })
})
