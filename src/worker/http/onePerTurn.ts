/**
 * Work that holds the event loop for long (parsing a body of a megabyte: up to a few hundred ms on a slow core), done
 * one piece per turn of the loop. Run as each body ends, sixty-four such parses in one turn (what the body budget lets
 * in at once) kept every other request, a session's ping among them, waiting for all of them: a flood of large bodies,
 * which needs no signature, expired sessions that were pinged in time (probe 51 M2). One per turn, the requests that
 * arrived meanwhile are read in between, so a small request waits for one large parse at most.
 *
 * Small bodies are parsed as they come, within an allowance of bytes per turn (`takeNow`): what one turn reads is
 * bounded by the connections, not by the body budget, and a thousand bodies just under the large size, one on each
 * connection, were megabytes of JSON parsed in one turn (review 57 M1). Past the allowance they wait their turn too.
 */
export class OnePerTurn {
  private readonly waiting: Array<() => void> = []
  private booked = false
  /** Bytes parsed as they came in this turn. */
  private spent = 0

  /**
   * `schedule` runs its argument at the next turn of the loop (`setImmediate`: after the I/O that is ready now);
   * `allowance` is what may be parsed as it comes in one turn (one body of any size is always let through first).
   */
  constructor(
    private readonly schedule: (run: () => void) => void = (run) => void setImmediate(run),
    private readonly allowance: number = 256 * 1024
  ) {}

  /** How many pieces wait for their turn. */
  get size(): number {
    return this.waiting.length
  }

  add(work: () => void): void {
    this.waiting.push(work)
    this.book()
  }

  /** Whether a parse of `bytes` may run now, within this turn's allowance (then charged to it), or must wait (`add`). */
  takeNow(bytes: number): boolean {
    if (bytes === 0) return true
    if (this.spent > 0 && this.spent + bytes > this.allowance) return false
    this.spent += bytes
    this.book()
    return true
  }

  private book(): void {
    if (this.booked) return
    this.booked = true
    this.schedule(this.turn)
  }

  /** A new turn: its allowance afresh, and the next waiting piece. */
  private readonly turn = (): void => {
    this.booked = false
    this.spent = 0
    const work = this.waiting.shift()
    // The next turn is booked before the work runs, so that a piece that throws stops no other.
    if (this.waiting.length > 0) this.book()
    work?.()
  }
}
