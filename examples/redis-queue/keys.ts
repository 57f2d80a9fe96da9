/**
 * The Redis keys the dispatcher and the consumers share. A job travels as JSON:
 *
 *   jobs:<session_id>   list  the job the dispatcher bound to that session (the consumer pops it)
 *   result:<job_id>     string the consumer's result (written once: SET NX)
 *   processed:<job_id>  list  every session that processed the job (to see re-runs)
 *   done:<job_id>       string set once by the dispatcher when the job is done (SET NX: exactly once)
 */
export interface Job {
  readonly job_id: string
  /** What to work on; opaque to the queue. */
  readonly input: string
  /** How long the simulated work takes; the consumer's WORK_MS when absent. */
  readonly work_ms?: number
}

export const sessionQueue = (sessionId: string) => `jobs:${sessionId}`
export const resultKey = (jobId: string) => `result:${jobId}`
export const processedKey = (jobId: string) => `processed:${jobId}`
export const doneKey = (jobId: string) => `done:${jobId}`
