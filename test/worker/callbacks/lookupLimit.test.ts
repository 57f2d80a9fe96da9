import type { LookupFunction } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { callbackLookups, HUNG_NAME_MS, limitLookups, QUICK_NAME_MS, SLOW_LOOKUP_MS, threadPoolSize } from "../../../src/worker/callbacks/lookupLimit.js"

/** A resolver whose lookups end only when told, with an error or an address; each lookup it was asked, in order. */
const resolver = () => {
  const asked: Array<{ readonly hostname: string; readonly fail: () => void; readonly answer: (address?: string) => void }> = []
  const lookup: LookupFunction = (hostname, _options, done) => {
    asked.push({
      hostname,
      fail: () => done(Object.assign(new Error(`getaddrinfo EAI_AGAIN ${hostname}`), { code: "EAI_AGAIN" }), "", 0),
      answer: (address = "127.0.0.1") => done(null, address, 4)
    })
  }
  return { asked, lookup }
}
const tick = () => new Promise((resolve) => process.nextTick(resolve))

/** One lookup thread over a manual resolver, on a clock the test sets (`clock.now`). */
const oneThread = () => {
  const clock = { now: 0 }
  const { asked, lookup } = resolver()
  return { asked, clock, limited: limitLookups(lookup, 1, () => clock.now) }
}

describe("callbackLookups", () => {
  it("half of the lookups libuv runs at once (half its thread pool), at least one: the rest stay for the health checks and reports", () => {
    assert.deepStrictEqual([1, 2, 3, 4, 8, 16].map(callbackLookups), [1, 1, 1, 1, 2, 4])
  })
})

describe("threadPoolSize", () => {
  it("reads UV_THREADPOOL_SIZE as libuv does: a whole number from 1 to 1024, else 4", () => {
    const before = process.env["UV_THREADPOOL_SIZE"]
    const sizeWith = (value: string | undefined) => {
      if (value === undefined) delete process.env["UV_THREADPOOL_SIZE"]
      else process.env["UV_THREADPOOL_SIZE"] = value
      return threadPoolSize()
    }
    try {
      assert.deepStrictEqual([undefined, "8", "1", "1024", "0", "1025", "2.5", "x"].map(sizeWith), [4, 8, 1, 1024, 4, 4, 4, 4])
    } finally {
      sizeWith(before)
    }
  })
})

describe("limitLookups", () => {
  it("runs at most `max` lookups at once; the next waits for one to end, oldest first", () => {
    const { asked, lookup } = resolver()
    const limited = limitLookups(lookup, 2, () => 0)
    const answers: Array<string> = []
    for (const name of ["a.test", "b.test", "c.test", "d.test"]) limited(name, {}, (_, address) => void answers.push(`${name}=${String(address)}`))
    assert.deepStrictEqual(asked.map((entry) => entry.hostname), ["a.test", "b.test"])
    assert.deepStrictEqual([limited.running(), limited.waiting()], [2, 2])
    asked[1]!.answer("10.0.0.2")
    assert.deepStrictEqual(asked.map((entry) => entry.hostname), ["a.test", "b.test", "c.test"])
    assert.deepStrictEqual(answers, ["b.test=10.0.0.2"])
    asked[2]!.answer("10.0.0.3")
    asked[3]!.answer("10.0.0.4")
    asked[0]!.answer("10.0.0.1")
    assert.deepStrictEqual(answers, ["b.test=10.0.0.2", "c.test=10.0.0.3", "d.test=10.0.0.4", "a.test=10.0.0.1"])
    assert.deepStrictEqual([limited.running(), limited.waiting()], [0, 0])
  })

  it("a name already being looked up with the same options takes no other thread: its callers share the answer", () => {
    const { asked, lookup } = resolver()
    const limited = limitLookups(lookup, 2, () => 0)
    const answers: Array<string> = []
    limited("hang.test", {}, (_, address) => void answers.push(`first ${String(address)}`))
    limited("hang.test", {}, (_, address) => void answers.push(`second ${String(address)}`))
    limited("hang.test", { all: true }, () => void answers.push("all"))
    limited("other.test", {}, () => void answers.push("other"))
    // One thread for hang.test with the same options, one for its `all` lookup; other.test waits.
    assert.deepStrictEqual(asked.map((entry) => entry.hostname), ["hang.test", "hang.test"])
    assert.strictEqual(limited.waiting(), 1)
    asked[0]!.answer("10.0.0.9")
    assert.deepStrictEqual(answers, ["first 10.0.0.9", "second 10.0.0.9"])
    assert.deepStrictEqual(asked.map((entry) => entry.hostname), ["hang.test", "hang.test", "other.test"])
    // Once answered, the name is looked up afresh.
    limited("hang.test", {}, () => undefined)
    assert.strictEqual(limited.waiting(), 1)
  })

  it("a lookup that waited for a thread longer than maxWait is answered with ETIMEOUT, not run; one joined since is run", () => {
    const { asked, lookup } = resolver()
    let now = 0
    const limited = limitLookups(lookup, 1, () => now, 10_000)
    const answers: Array<string> = []
    const record = (name: string) => (error: NodeJS.ErrnoException | null, address: unknown) => void answers.push(`${name}: ${error?.code ?? String(address)}`)
    limited("hang.test", {}, record("hang"))
    limited("stale.test", {}, record("stale"))
    limited("fresh.test", {}, record("fresh"))
    now = 9_000
    limited("fresh.test", {}, record("fresh again"))
    now = 10_500
    asked[0]!.answer("10.0.0.1")
    // stale.test waited 10.5 s: answered, never asked; fresh.test's latest caller waited 1.5 s: it runs.
    assert.deepStrictEqual(asked.map((entry) => entry.hostname), ["hang.test", "fresh.test"])
    asked[1]!.answer("10.0.0.3")
    assert.deepStrictEqual(answers, ["hang: 10.0.0.1", "stale: ETIMEOUT", "fresh: 10.0.0.3", "fresh again: 10.0.0.3"])
    assert.deepStrictEqual([limited.running(), limited.waiting()], [0, 0])
  })

  it("lookups of one name with another family or other hints are not joined: each asks on its own", () => {
    const { asked, lookup } = resolver()
    const limited = limitLookups(lookup, 4, () => 0)
    limited("a.test", { family: 4 }, () => undefined)
    limited("a.test", { family: 6 }, () => undefined)
    limited("a.test", { family: 4, hints: 32 }, () => undefined)
    limited("a.test", { family: 4 }, () => undefined)
    assert.deepStrictEqual([asked.length, limited.running()], [3, 3])
  })

  it("the wait is measured against maxWait inclusive; a stale lookup's error names the name and the limit", () => {
    const { asked, lookup } = resolver()
    let now = 0
    const limited = limitLookups(lookup, 1, () => now, 10_000)
    const errors: Array<string> = []
    limited("busy.test", {}, () => undefined)
    limited("edge.test", {}, () => undefined)
    limited("late.test", {}, (error) => void errors.push(`${error?.code}: ${error?.message}`))
    now = 10_000
    asked[0]!.answer("10.0.0.1")
    // edge.test waited exactly 10 s: still run.
    assert.deepStrictEqual(asked.map((entry) => entry.hostname), ["busy.test", "edge.test"])
    now = 10_001
    asked[1]!.answer("10.0.0.2")
    assert.deepStrictEqual(errors, ["ETIMEOUT: lookup of late.test: waited over 10000 ms for a thread"])
  })

  it("a lookup that throws something other than an Error answers its callers with EINVAL", () => {
    const limited = limitLookups(() => {
      throw "not an error"
    }, 1, () => 0)
    const errors: Array<string> = []
    limited("x.test", {}, (error) => void errors.push(`${error?.code}: ${error?.message}`))
    assert.deepStrictEqual(errors, ["EINVAL: not an error"])
    assert.strictEqual(limited.running(), 0)
  })

  it("a lookup that throws gives its thread back and answers its callers with the error", () => {
    const { asked, lookup } = resolver()
    let calls = 0
    const throwing: LookupFunction = (hostname, options, done) => {
      if (calls++ === 0) throw Object.assign(new TypeError("bad hostname"), { code: "ERR_INVALID_ARG_VALUE" })
      lookup(hostname, options, done)
    }
    const limited = limitLookups(throwing, 1, () => 0)
    const answers: Array<string> = []
    limited("bad name", {}, (error) => void answers.push(error?.message ?? "none"))
    limited("ok.test", {}, (_, address) => void answers.push(String(address)))
    assert.deepStrictEqual(answers, ["bad hostname"])
    asked[0]!.answer("10.0.0.5")
    assert.deepStrictEqual(answers, ["bad hostname", "10.0.0.5"])
    assert.deepStrictEqual([limited.running(), limited.waiting()], [0, 0])
  })
})

describe("limitLookups: a name whose lookup hung", () => {

  it("fails at once for 30 s without taking the thread, so a healthy name's retry runs; then it is looked up again", async () => {
    const { asked, clock, limited } = oneThread()
    const results: Array<string> = []
    const ask = (name: string) => limited(name, {}, (error) => void results.push(`${name} ${error === null ? "ok" : String((error as NodeJS.ErrnoException).code)}`))
    ask("hung.test")
    ask("localhost")
    // The resolver's own time-out (5 s × 2): the healthy name waited too long behind it, as before.
    clock.now = 10_200
    asked[0]!.fail()
    assert.deepStrictEqual(results, ["hung.test EAI_AGAIN", "localhost ETIMEOUT"])
    // The retries, together: the hung name fails at once, and the healthy name gets the thread.
    clock.now = 11_200
    ask("hung.test")
    ask("localhost")
    assert.deepStrictEqual(asked.map((entry) => entry.hostname), ["hung.test", "localhost"])
    asked[1]!.answer()
    await tick()
    assert.deepStrictEqual(results.slice(2), ["localhost ok", "hung.test ETIMEOUT"])
    // After 30 s it is asked again; a failure that comes fast marks nothing.
    clock.now = 10_200 + 30_000
    ask("hung.test")
    assert.deepStrictEqual(asked.map((entry) => entry.hostname), ["hung.test", "localhost", "hung.test"])
    asked[2]!.fail()
    ask("hung.test")
    assert.strictEqual(asked.length, 4)
  })
})

describe("limitLookups: a name that answered quickly", () => {
  it("waits ahead of names not known to answer (each may hang a whole resolver time-out), for 10 minutes; a name never seen waits its turn", () => {
    const { asked, clock, limited } = oneThread()
    const order: Array<string> = []
    const ask = (name: string) => limited(name, {}, () => void order.push(name))
    ask("localhost")
    asked[0]!.answer()
    // A name whose lookup failed, even at once, is not known to answer.
    ask("gone.test")
    asked[1]!.fail()
    // A minute later: three names of jobs whose DNS hangs, a name never seen, the failed one, the one that answered.
    clock.now = 60_000
    for (const name of ["h1.hang.test", "h2.hang.test", "h3.hang.test", "new.test", "gone.test", "localhost"]) ask(name)
    assert.deepStrictEqual(limited.waiting(), 5)
    clock.now = 68_000
    asked[2]!.fail()
    assert.deepStrictEqual(asked.map((entry) => entry.hostname).slice(3), ["localhost"])
    asked[3]!.answer()
    assert.deepStrictEqual(asked.map((entry) => entry.hostname).slice(4), ["h2.hang.test"])
    for (let i = 4; i < 7; i++) asked[i]!.fail()
    asked[7]!.answer()
    assert.deepStrictEqual(order, ["localhost", "gone.test", "h1.hang.test", "localhost", "h2.hang.test", "h3.hang.test", "new.test", "gone.test"])
    // Past QUICK_NAME_MS since its last answer, it waits its turn again.
    clock.now = 68_000 + QUICK_NAME_MS
    ask("busy.test")
    ask("other.test")
    ask("localhost")
    asked[8]!.answer()
    assert.strictEqual(asked[9]!.hostname, "other.test")
  })

  it("a name that answered only after 5 s or more is not a quick one: it waits its turn", () => {
    const { asked, clock, limited } = oneThread()
    limited("slow.test", {}, () => undefined)
    clock.now = SLOW_LOOKUP_MS
    asked[0]!.answer()
    limited("busy.test", {}, () => undefined)
    limited("new.test", {}, () => undefined)
    limited("slow.test", {}, () => undefined)
    asked[1]!.answer()
    assert.strictEqual(asked[2]!.hostname, "new.test")
  })
})

describe("limitLookups: what counts as hung", () => {
  it("a failure after exactly 5 s counts, and the error says for how long the name is not tried; a slow success does not count", async () => {
    const { asked, clock, limited } = oneThread()
    const errors: Array<string> = []
    const ask = (name: string) => limited(name, {}, (error) => void errors.push(error === null ? "ok" : error.message))
    ask("slow.test")
    clock.now = SLOW_LOOKUP_MS
    asked[0]!.answer()
    ask("slow.test")
    assert.strictEqual(asked.length, 2, "a slow success is looked up again")
    asked[1]!.fail()
    ask("hung.test")
    clock.now += SLOW_LOOKUP_MS
    asked[2]!.fail()
    clock.now += 1_000
    ask("hung.test")
    await tick()
    assert.strictEqual(asked.length, 3)
    assert.strictEqual(errors.at(-1), `lookup of hung.test: its last lookup hung (over ${SLOW_LOOKUP_MS} ms); not tried again for ${HUNG_NAME_MS / 1000 - 1} s`)
  })

  it("at most 1,000 names are remembered as hung: the oldest is looked up again", () => {
    const { asked, clock, limited } = oneThread()
    for (let i = 0; i <= 1_000; i++) {
      limited(`hung-${i}.test`, {}, () => undefined)
      clock.now += SLOW_LOOKUP_MS
      asked[i]!.fail()
    }
    clock.now = 0
    limited("hung-0.test", {}, () => undefined)
    asked[1_001]!.answer()
    limited("hung-1.test", {}, () => undefined)
    assert.deepStrictEqual(asked.slice(1_001).map((entry) => entry.hostname), ["hung-0.test"])
  })
})
