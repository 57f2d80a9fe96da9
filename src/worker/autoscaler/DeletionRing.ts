/**
 * Records owed to `/delete_requests/` (vast-protocol.md §5.6), kept as numbers in a ring: no object per record.
 *
 * Every session close and every refused create owes the autoscaler a record, and a record waits up to a tick
 * (a second) for its batch: as objects, they lived long enough to be copied by the young generation's
 * collections and promoted to the old one, which cost more than building them (docs/performance.md). Here a
 * record is four numbers; text is written only for the batch being sent.
 *
 * Each entry has a sequence number (oldest first, never reused), so a delivered batch is removed by the last
 * number it held, and entries pushed meanwhile stay. Past `capacity`, the oldest entries are dropped. The
 * columns start small and double as needed, up to `capacity`, so an idle worker does not hold the maximum.
 */

/** Entries the columns hold before they first grow. */
const INITIAL_ROOM = 1024

export class DeletionRing {
  private requestIdx: Float64Array
  private enteredAt: Float64Array
  private workStartedAt: Float64Array
  private workCompletedAt: Float64Array
  /** Sequence number of the oldest entry kept, and of the next one pushed. */
  private head = 0
  private tail = 0

  constructor(readonly capacity: number) {
    const room = Math.max(1, Math.min(capacity, INITIAL_ROOM))
    this.requestIdx = new Float64Array(room)
    this.enteredAt = new Float64Array(room)
    this.workStartedAt = new Float64Array(room)
    this.workCompletedAt = new Float64Array(room)
  }

  get size(): number {
    return this.tail - this.head
  }

  /** Entries the columns hold before they next grow: the memory the ring keeps (never more than `capacity`). */
  get room(): number {
    return this.requestIdx.length
  }

  /** Append a record; returns how many old entries were dropped to make room (0 or 1). */
  push(requestIdx: number, enteredAt: number, workStartedAt: number, workCompletedAt: number): number {
    if (this.size === this.requestIdx.length && this.requestIdx.length < this.capacity) this.grow()
    const room = this.requestIdx.length
    const slot = this.tail % room
    this.requestIdx[slot] = requestIdx
    this.enteredAt[slot] = enteredAt
    this.workStartedAt[slot] = workStartedAt
    this.workCompletedAt[slot] = workCompletedAt
    this.tail++
    if (this.tail - this.head <= this.capacity) return 0
    this.head++
    return 1
  }

  /**
   * Visit the oldest `max` entries, oldest first, without making an object for each; returns the sequence
   * number of the last one visited (-1 when none).
   */
  forEachOldest(max: number, visit: (requestIdx: number, enteredAt: number, workStartedAt: number, workCompletedAt: number) => void): number {
    const room = this.requestIdx.length
    const end = Math.min(this.tail, this.head + Math.max(0, max))
    for (let seq = this.head; seq < end; seq++) {
      const slot = seq % room
      visit(this.requestIdx[slot]!, this.enteredAt[slot]!, this.workStartedAt[slot]!, this.workCompletedAt[slot]!)
    }
    return end > this.head ? end - 1 : -1
  }

  /** Remove every entry up to and including `seq` (those dropped meanwhile are gone already). */
  removeThrough(seq: number): void {
    if (seq >= this.head) this.head = Math.min(seq + 1, this.tail)
  }

  /**
   * Double the columns (at most to `capacity`), each entry moved to its slot in the larger ring. The entries lie in
   * at most three runs that are contiguous in both rings; each is copied with `set` (a memory copy) rather than
   * entry by entry: a growing ring is a flood of refusals, and a loop that runs once per doubling runs cold.
   */
  private grow(): void {
    const room = Math.min(this.capacity, this.requestIdx.length * 2)
    const move = (old: Float64Array): Float64Array => {
      const column = new Float64Array(room)
      for (let seq = this.head; seq < this.tail; ) {
        const from = seq % old.length
        const to = seq % room
        const run = Math.min(this.tail - seq, old.length - from, room - to)
        column.set(old.subarray(from, from + run), to)
        seq += run
      }
      return column
    }
    this.requestIdx = move(this.requestIdx)
    this.enteredAt = move(this.enteredAt)
    this.workStartedAt = move(this.workStartedAt)
    this.workCompletedAt = move(this.workCompletedAt)
  }
}
