/**
 * What the client is doing, read from the lines it prints, for a timeout's message: "holding its sessions" said of a
 * client that was still reserving them, or already ending them, sent the reader to the wrong place (newcomer 37 #4).
 */
export interface ClientProgress {
  readonly created: number
  /** Sessions over: ended by the client, or closed by their worker. */
  readonly over: number
  readonly holding: boolean
  readonly ending: boolean
}

export const CLIENT_STARTING: ClientProgress = { created: 0, over: 0, holding: false, ending: false }

// The client's own words (src/client/events.ts), its timestamp taken off.
const CREATED = /^#\d+ created session /
const HOLDING = /^holding \d+ session\(s\)/
const ENDING = /^#\d+ ending session /
const OVER = /^#\d+ (?:ended session |session \S+ closed: )/

export const clientProgressAfter = (progress: ClientProgress, line: string): ClientProgress =>
  CREATED.test(line)
    ? { ...progress, created: progress.created + 1 }
    : HOLDING.test(line)
      ? { ...progress, holding: true }
      : ENDING.test(line)
        ? { ...progress, ending: true }
        : OVER.test(line)
          ? { ...progress, over: progress.over + 1 }
          : progress

/** `count`: the sessions the demo asked for. */
export const describeClientProgress = (progress: ClientProgress, count: number): string =>
  progress.ending
    ? `the client ending its sessions (${progress.over} of ${progress.created} over)`
    : progress.holding
      ? `the client holding its sessions (${progress.created} of ${count} created)`
      : `the client reserving its sessions (${progress.created} of ${count} created)`
