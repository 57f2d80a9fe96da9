import { describe, expect, it } from "vitest"
import { sameWorker } from "../../src/client/heldTwice.js"

describe("sameWorker", () => {
  it("one worker's address written two ways (case, a default port, a trailing slash on its path) is one worker", () => {
    expect(sameWorker("HTTPS://Worker.Example:443/w/", "https://worker.example/w")).toBe(true)
    expect(sameWorker("http://10.0.0.1:80", "http://10.0.0.1/")).toBe(true)
    expect(sameWorker("https://10.0.0.1:4000/w/?wt=3", "https://10.0.0.1:4000/w?wt=3")).toBe(true)
  })

  it("another host, port, scheme, path or query is another worker", () => {
    expect(sameWorker("https://10.0.0.1:4000", "https://10.0.0.2:4000")).toBe(false)
    expect(sameWorker("https://10.0.0.1:4000", "https://10.0.0.1:4001")).toBe(false)
    expect(sameWorker("http://10.0.0.1:4000", "https://10.0.0.1:4000")).toBe(false)
    expect(sameWorker("https://10.0.0.1:4000/a", "https://10.0.0.1:4000/b")).toBe(false)
    expect(sameWorker("https://10.0.0.1:4000/w?wt=3", "https://10.0.0.1:4000/w?wt=4")).toBe(false)
  })
})
