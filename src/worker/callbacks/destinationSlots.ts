/**
 * The callback outbox's delivery slots, counted by destination (a receiver's host and port).
 *
 * A quarter of the slots (at least one) is kept for destinations with nothing in flight: once the rest are taken, a
 * destination gets one only for its first attempt, and a later delivery to it is parked behind that attempt (and
 * behind what is parked there already, so that a destination's deliveries keep their order). So one
 * destination takes the rest at most, and hung receivers, however many, leave every other destination a slot until
 * each slot has its own destination.
 *
 * Every operation is one synchronous step, so no fiber can come between a check and its count. In particular the end
 * of an attempt either hands its slot on to the oldest delivery parked for its destination or gives the slot back, in
 * the same step: were the two apart, a delivery parked between them would wait behind a slot already given back, with
 * nothing left to wake it.
 */
export interface DestinationSlots<A> {
  /** A slot for a delivery to `destination` (true), or the delivery parked behind the attempt in flight there (false). */
  readonly take: (destination: string, delivery: A) => boolean
  /** An attempt on a held slot ended: the oldest delivery parked for `destination`, which keeps the slot, else undefined with the slot given back. */
  readonly handOn: (destination: string) => A | undefined
  /** A held slot given back without handing it on (its attempt was interrupted). */
  readonly giveBack: (destination: string) => void
  /** Attempts in flight, in all. */
  readonly inFlight: () => number
}

export const makeDestinationSlots = <A>(concurrency: number): DestinationSlots<A> => {
  const reserved = Math.max(1, Math.floor(concurrency / 4))
  const shared = concurrency - reserved
  const busy = new Map<string, number>()
  let inFlight = 0
  const parked = new Map<string, Array<A>>()

  const giveBack = (destination: string): void => {
    inFlight--
    const running = (busy.get(destination) ?? 1) - 1
    if (running === 0) busy.delete(destination)
    else busy.set(destination, running)
  }

  return {
    take: (destination, delivery) => {
      const running = busy.get(destination) ?? 0
      // Behind what is parked there already, whatever is free now: a destination's deliveries keep their order.
      if (running > 0 && (inFlight >= shared || parked.has(destination))) {
        const waiting = parked.get(destination)
        if (waiting === undefined) parked.set(destination, [delivery])
        else waiting.push(delivery)
        return false
      }
      busy.set(destination, running + 1)
      inFlight++
      return true
    },
    handOn: (destination) => {
      const waiting = parked.get(destination)
      const next = waiting?.shift()
      if (waiting !== undefined && waiting.length === 0) parked.delete(destination)
      if (next === undefined) giveBack(destination)
      return next
    },
    giveBack,
    inFlight: () => inFlight
  }
}
