/**
 * The Redis keys the autoscale daemon and the consumers share. Both sides derive them from one prefix
 * (by default `<queue key>:autoscale`), so a consumer finds the daemon's protection set without any
 * other configuration:
 *
 *   <prefix>:sessions   hash  session id → the daemon's record of a reservation it holds (JSON), for its restart
 *   <prefix>:keep       set   session ids whose consumers must not release their workers when idle (a lease: it
 *                             expires unless the daemon renews it, so a dead daemon protects nothing)
 *   <prefix>:owner      string the running daemon's token (one daemon per prefix)
 *
 * The consumer's own keys, by default beside the stream:
 *
 *   <stream>:results      hash  job key → result, written once (HSETNX) in the same script as the XACK
 *   <stream>:completions  hash  job key → how many times a consumer finished it (above 1: work was redone)
 */
export interface AutoscaleKeys {
  readonly sessions: string
  readonly keep: string
  readonly owner: string
}

export const defaultPrefix = (queueKey: string): string => `${queueKey}:autoscale`

export const autoscaleKeys = (prefix: string): AutoscaleKeys => ({
  sessions: `${prefix}:sessions`,
  keep: `${prefix}:keep`,
  owner: `${prefix}:owner`
})

export const resultsKey = (stream: string): string => `${stream}:results`
export const completionsKey = (stream: string): string => `${stream}:completions`
