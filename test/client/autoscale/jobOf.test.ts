import { assert, describe, it } from "@effect/vitest"
import { jobOf } from "../../../src/client/autoscale/JobStream.js"

describe("jobOf: a stream entry as a job", () => {
  it("keeps every field as its own, __proto__ and constructor included; the key is the key field's, else the entry's id (review 45 I4)", () => {
    const job = jobOf(["1-0", ["job_id", "j-1", "__proto__", "x", "constructor", "y", "work_ms", "50"]], false, "job_id")
    assert.strictEqual(job.key, "j-1")
    assert.deepStrictEqual(Object.entries(job.fields), [
      ["job_id", "j-1"],
      ["__proto__", "x"],
      ["constructor", "y"],
      ["work_ms", "50"]
    ])
    assert.strictEqual(Object.getPrototypeOf(job.fields), Object.prototype)
    // A key field named like a member every object inherits is not read from the prototype.
    assert.strictEqual(jobOf(["2-0", ["a", "1"]], true, "constructor").key, "2-0")
    assert.strictEqual(jobOf(["3-0", ["a", "1", "dangling"]], false, "a").key, "1")
  })
})
