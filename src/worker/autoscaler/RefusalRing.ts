/**
 * Refused requests waiting for `/delete_requests/`, kept as numbers in a fixed ring: no object per refusal.
 *
 * A worker that is full answers a flood of `/session/create` with 429s, and each one owes the autoscaler a
 * record (vast-protocol.md §5.6). As objects, the records lived until the next tick, long enough to be
 * promoted to the old generation, and cost more than the 429 itself (docs/performance.md). Here a refusal
 * is three numbers; records are built only for the batch being sent. Each entry has a sequence number
 * (oldest first, never reused), so a delivered batch is removed by the last number it held. Past
 * `capacity`, the oldest entries are dropped.
 */
export interface Refusal {
  readonly seq: number
  readonly requestIdx: number
  readonly enteredAt: number
  readonly workStartedAt: number
}

export class RefusalRing {
  private readonly requestIdx: Float64Array
  private readonly enteredAt: Float64Array
  private readonly workStartedAt: Float64Array
  /** Sequence number of the oldest entry kept, and of the next one pushed. */
  private head = 0
  private tail = 0

  constructor(readonly capacity: number) {
    this.requestIdx = new Float64Array(capacity)
    this.enteredAt = new Float64Array(capacity)
    this.workStartedAt = new Float64Array(capacity)
  }

  get size(): number {
    return this.tail - this.head
  }

  /** Append a refusal; returns how many old entries were dropped to make room (0 or 1). */
  push(requestIdx: number, enteredAt: number, workStartedAt: number): number {
    const slot = this.tail % this.capacity
    this.requestIdx[slot] = requestIdx
    this.enteredAt[slot] = enteredAt
    this.workStartedAt[slot] = workStartedAt
    this.tail++
    if (this.tail - this.head <= this.capacity) return 0
    this.head++
    return 1
  }

  /** The oldest `max` entries, oldest first. */
  peek(max: number): ReadonlyArray<Refusal> {
    const out: Array<Refusal> = []
    const end = Math.min(this.tail, this.head + Math.max(0, max))
    for (let seq = this.head; seq < end; seq++) {
      const slot = seq % this.capacity
      out.push({ seq, requestIdx: this.requestIdx[slot]!, enteredAt: this.enteredAt[slot]!, workStartedAt: this.workStartedAt[slot]! })
    }
    return out
  }

  /** Remove every entry up to and including `seq` (those dropped meanwhile are gone already). */
  removeThrough(seq: number): void {
    if (seq >= this.head) this.head = Math.min(seq + 1, this.tail)
  }
}
