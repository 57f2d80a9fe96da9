/**
 * The first item (already received, or arriving later) that `matches`. A recorder keeps its items and
 * a list of waiters it wakes after each new item; this does the rest.
 */
export const waitForMatch = <A>(
  recorder: { readonly items: ReadonlyArray<A>; readonly waiters: Array<() => void> },
  matches: (item: A) => boolean,
  ms: number,
  onTimeout: () => string
): Promise<A> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(onTimeout())), ms)
    const check = () => {
      const found = recorder.items.find(matches)
      if (found === undefined) return recorder.waiters.push(check)
      clearTimeout(timer)
      resolve(found)
    }
    check()
  })
