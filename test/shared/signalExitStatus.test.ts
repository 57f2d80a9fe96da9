/**
 * The command-line programs' stop signals, driven by `process.emit` (no signal is sent) with the process's own
 * listeners for them set aside meanwhile, a clock of the test's and a quit that only records.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { rememberStopSignal, type StopSignalName } from "../../src/shared/signalExitStatus.js"

const STOPS: ReadonlyArray<StopSignalName> = ["SIGINT", "SIGTERM", "SIGHUP", "SIGUSR2"]
let setAside: Array<readonly [StopSignalName, ReadonlyArray<(...args: Array<unknown>) => void>]> = []

beforeEach(() => {
  setAside = STOPS.map((signal) => [signal, process.listeners(signal) as Array<(...args: Array<unknown>) => void>] as const)
  for (const signal of STOPS) process.removeAllListeners(signal)
})
afterEach(() => {
  for (const signal of STOPS) process.removeAllListeners(signal)
  for (const [signal, listeners] of setAside) for (const listener of listeners) process.on(signal, listener)
})

/** The glue under test, the runtime's stand-in (it hears SIGINT and SIGTERM, once, as runMain's listener does), and the clock. */
const setUp = () => {
  let now = 1_000
  const quits: Array<StopSignalName> = []
  const stoppedBy = rememberStopSignal(() => now, (signal) => quits.push(signal))
  const runtimeHeard: Array<string> = []
  const runtime = (signal: NodeJS.Signals) => {
    runtimeHeard.push(signal)
    process.off("SIGINT", runtime)
    process.off("SIGTERM", runtime)
  }
  process.on("SIGINT", runtime)
  process.on("SIGTERM", runtime)
  return {
    send: (signal: StopSignalName, afterMs = 0) => {
      now += afterMs
      process.emit(signal, signal)
    },
    quits,
    runtimeHeard,
    stoppedBy
  }
}

describe("rememberStopSignal", () => {
  it("no signal: no status", () => {
    expect(setUp().stoppedBy()).toBeNull()
  })

  it("SIGTERM twice within 500 ms (timeout(1)'s echo) is one stop: the runtime stops once, nothing quits; the status is 143", () => {
    const stops = setUp()
    stops.send("SIGTERM")
    stops.send("SIGTERM")
    stops.send("SIGTERM", 499)
    expect([stops.runtimeHeard, stops.quits, stops.stoppedBy()]).toEqual([["SIGTERM"], [], 143])
  })

  it("the same signal 500 ms or more after the first is a second stop: it quits at once", () => {
    const stops = setUp()
    stops.send("SIGINT")
    stops.send("SIGINT", 500)
    expect([stops.runtimeHeard, stops.quits, stops.stoppedBy()]).toEqual([["SIGINT"], ["SIGINT"], 130])
  })

  it("another stop signal, however soon, is a second stop: Ctrl-C, then SIGTERM, quits", () => {
    const stops = setUp()
    stops.send("SIGINT")
    stops.send("SIGTERM")
    expect([stops.quits, stops.stoppedBy()]).toEqual([["SIGTERM"], 130])
  })

  it.each(["SIGHUP", "SIGUSR2"] as const)("%s is passed on to the runtime as SIGTERM, the same stop; its echo is absorbed, a Ctrl-C quits", (signal) => {
    const stops = setUp()
    stops.send(signal)
    stops.send(signal, 10)
    expect([stops.runtimeHeard, stops.quits, stops.stoppedBy()]).toEqual([["SIGTERM"], [], signal === "SIGHUP" ? 129 : 140])
    stops.send("SIGINT", 1_000)
    expect(stops.quits).toEqual(["SIGINT"])
  })
})
