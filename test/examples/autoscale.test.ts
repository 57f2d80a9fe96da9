/**
 * `npm run example:autoscale`, scaled down: a real redis-server, the local serverless with real worker
 * processes and the example consumer beside each, the daemon, two bursts of jobs, one consumer killed
 * with SIGKILL mid-job, then the one-reservation-per-job comparison. The two JSON lines it ends with
 * must show every job done exactly once and the endpoint back at zero workers.
 */
import { fileURLToPath } from "node:url"
import { Schema } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { tracked } from "../support/cleanup.js"
import { spawnProcess } from "../support/process.js"
import { skipWithoutRedis } from "../support/redisServer.js"

const example = fileURLToPath(new URL("../../dist/examples/autoscale-example.js", import.meta.url))

const { cleanup, processes } = tracked()
afterEach(cleanup)

const Summary = Schema.parseJson(
  Schema.Struct({
    jobs: Schema.Number,
    done: Schema.Number,
    duplicates: Schema.Number,
    lost: Schema.Number,
    peak_workers: Schema.Number,
    workers_left: Schema.Number,
    killed_consumers: Schema.Number,
    worker_seconds: Schema.Number,
    seconds: Schema.Number,
    workers_started: Schema.Number,
    routes: Schema.Number
  })
)
const Comparison = Schema.parseJson(
  Schema.Struct({
    comparison: Schema.Literal("one-reservation-per-job"),
    jobs: Schema.Number,
    done: Schema.Number,
    peak_workers: Schema.Number,
    workers_left: Schema.Number,
    worker_seconds: Schema.Number,
    seconds: Schema.Number,
    workers_started: Schema.Number,
    routes: Schema.Number
  })
)

describe.skipIf(skipWithoutRedis("the autoscale example test"))("npm run example:autoscale, scaled down (real redis-server and workers)", () => {
  it("16 jobs in two bursts through at most 3 workers, one consumer killed mid-job: each job done once, none lost, back to zero; then the per-job comparison", { timeout: 150_000 }, async () => {
    const run = spawnProcess(
      process.execPath,
      [example, "--jobs", "16", "--min-ms", "100", "--max-ms", "700", "--max-workers", "3", "--jobs-per-worker", "2", "--burst-gap", "1", "--timeout", "120"],
      {}
    )
    processes.push(run)
    const code = await run.exited
    const output = run.output()
    expect(code, output).toBe(0)
    const lines = output.split("\n").filter((line) => line.startsWith("{"))
    const summary = Schema.decodeUnknownSync(Summary)(lines.find((line) => line.includes("\"killed_consumers\"")))
    expect(summary).toMatchObject({ jobs: 16, done: 16, duplicates: 0, lost: 0, workers_left: 0, killed_consumers: 1 })
    expect(summary.peak_workers).toBeGreaterThanOrEqual(2)
    expect(summary.peak_workers).toBeLessThanOrEqual(3)
    expect(summary.worker_seconds).toBeGreaterThan(0)
    const comparison = Schema.decodeUnknownSync(Comparison)(lines.find((line) => line.includes("\"comparison\"")))
    expect(comparison).toMatchObject({ jobs: 16, done: 16, workers_left: 0 })
    // Every job of the per-job run was routed at least once; the daemon's reservations were fewer than the jobs.
    expect(comparison.routes).toBeGreaterThanOrEqual(16)
    expect(summary.routes).toBeGreaterThanOrEqual(summary.peak_workers)
    expect(summary.routes).toBeLessThan(16)
    expect(summary.workers_started).toBeGreaterThanOrEqual(summary.peak_workers)
    expect(comparison.workers_started).toBeGreaterThanOrEqual(comparison.peak_workers)
    // And the example says what the two lines show, with their figures.
    const figures = (run: { readonly seconds: number; readonly worker_seconds: number; readonly workers_started: number; readonly routes: number }) => `${run.seconds} s, ${run.worker_seconds} worker-seconds, ${run.workers_started} worker starts, ${run.routes} routes`
    expect(output).toContain(`comparison: held workers ${figures(summary)}; one reservation per job ${figures(comparison)}.`)
    // A ratio of 1 reads "as many workers" alone.
    expect(output).toMatch(/One reservation per job routed (?:[\d.]+× )?as often and started (?:[\d.]+× )?as many workers; on one machine/)
    // The timeline shows the scaling, the kill and the re-claim of the killed consumer's job.
    expect(output).toMatch(/daemon \| backlog \d+ waiting/)
    // The daemon's reservations named by the workers the timeline shows, and its closes with their reasons.
    expect(output).toMatch(/daemon \| #\d+ created on w\d+ \(http:\/\/127\.0\.0\.1:\d+\)/)
    expect(output).toMatch(/daemon \| #\d+ \(w\d+\) closed: \S/)
    expect(output).toMatch(/killed \(SIGKILL\) in the middle of job-\d+/)
    expect(output).toMatch(/re-claimed job-\d+ from a dead consumer/)
    expect(output).toMatch(/released its worker/)
  })
})
