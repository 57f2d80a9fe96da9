/**
 * Work that holds the event loop for long (parsing a body of a megabyte: up to a few hundred ms on a slow core), done
 * one piece per turn of the loop. Run as each body ends, sixty-four such parses in one turn (what the body budget lets
 * in at once) kept every other request, a session's ping among them, waiting for all of them: a flood of large bodies,
 * which needs no signature, expired sessions that were pinged in time (probe 51 M2). One per turn, the requests that
 * arrived meanwhile are read in between, so a small request waits for one large parse at most.
 */
export class OnePerTurn {
  private readonly waiting: Array<() => void> = []
  private scheduled = false

  /** `schedule` runs its argument at the next turn of the loop (`setImmediate`: after the I/O that is ready now). */
  constructor(private readonly schedule: (run: () => void) => void = (run) => void setImmediate(run)) {}

  /** How many pieces wait for their turn. */
  get size(): number {
    return this.waiting.length
  }

  add(work: () => void): void {
    this.waiting.push(work)
    if (this.scheduled) return
    this.scheduled = true
    this.schedule(this.runOne)
  }

  private readonly runOne = (): void => {
    const work = this.waiting.shift()
    // The next turn is booked before the work runs, so that a piece that throws stops no other.
    if (this.waiting.length > 0) this.schedule(this.runOne)
    else this.scheduled = false
    work?.()
  }
}
