import { describe, expect, it } from "vitest"
import { CLIENT_STARTING, clientProgressAfter, describeClientProgress } from "../../src/demo/clientPhase.js"

const after = (lines: ReadonlyArray<string>) => lines.reduce(clientProgressAfter, CLIENT_STARTING)

describe("the client's phase, read from its lines, for a demo's timeout (newcomer 37 #4)", () => {
  it("reserving until the plateau starts, holding through it, ending from the first end, with how far each has gone", () => {
    const reserving = ["endpoint null-demo (id 1)", "#1 routing (request_idx 0)", "#1 created session abc on http://127.0.0.1:1, expires in 10 s", "#2 waiting for a worker (request_idx 1), polling again in 1 s"]
    expect(describeClientProgress(after(reserving), 3)).toBe("the client reserving its sessions (1 of 3 created)")
    const holding = [...reserving, "#2 created session def on http://127.0.0.1:2, expires in 10 s", "holding 2 session(s) for 4 s", "#1 pinged session abc, expires in 10 s"]
    expect(describeClientProgress(after(holding), 2)).toBe("the client holding its sessions (2 of 2 created)")
    const ending = [...holding, "#1 ending session abc on http://127.0.0.1:1", "#1 ended session abc", "#2 session def closed: released by its consumer or closed by its worker (410 on /ping)"]
    expect(describeClientProgress(after(ending), 2)).toBe("the client ending its sessions (2 of 2 over)")
    // A session id that reads like a line of another kind does not count twice.
    expect(after(["#1 ended session #1 created session x"]).created).toBe(0)
  })
})
