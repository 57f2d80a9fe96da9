/**
 * The smallest `HEALTHCHECK_INTERVAL` a worker takes: health checks at most 100 a second, as a smaller interval would
 * run them back to back against the consumer. Shared with the local serverless, which sets it for its workers and must
 * refuse at its start what every worker it launches would refuse.
 */
export const HEALTHCHECK_INTERVAL_MIN_SECONDS = 0.01
