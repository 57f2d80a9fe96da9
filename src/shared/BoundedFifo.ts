/**
 * A first-in first-out list that keeps at most `capacity` items: pushing past it drops the oldest, in O(1)
 * (an array with a moving head, compacted now and then), so a flood costs the same per item at the cap as
 * below it.
 */
export class BoundedFifo<A> {
  private items: Array<A> = []
  private head = 0

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.items.length - this.head
  }

  /** Append `item`; returns how many old items were dropped to make room (0 or 1). */
  push(item: A): number {
    this.items.push(item)
    if (this.size <= this.capacity) return 0
    this.head++
    if (this.head > this.capacity) this.compact()
    return 1
  }

  /** The oldest `max` items, oldest first. */
  peek(max: number): ReadonlyArray<A> {
    return this.items.slice(this.head, this.head + max)
  }

  /**
   * Remove these items (by identity), which were the oldest when peeked: items only join at the tail and
   * leave at the head, so the ones still here are still the oldest. Costs the batch, not the whole list;
   * items pushed since stay.
   */
  removeDelivered(sent: ReadonlySet<A>): void {
    while (this.head < this.items.length && sent.has(this.items[this.head]!)) this.head++
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head > this.capacity) this.compact()
  }

  private compact(): void {
    this.items = this.items.slice(this.head)
    this.head = 0
  }
}
