import { describe, expect, it } from "vitest"
import { localKeyWarning } from "../../src/client/localKey.js"

describe("localKeyWarning (newcomer 39 #4: VAST_API_KEY=local with --instance local left out went to Vast, retried, and failed unsaid)", () => {
  it("the local serverless's key sent to no address of this machine: said, with where it goes and what to add", () => {
    expect(localKeyWarning("local", ["https://run.vast.ai", "https://console.vast.ai"])).toBe(
      'warning: VAST_API_KEY is "local", the local serverless\'s key, but the run goes to https://run.vast.ai and https://console.vast.ai: for the local serverless add --instance local (or give --autoscaler-url and --webserver-url)'
    )
    // Read as the client reads the key: white space around it dropped.
    expect(localKeyWarning(" local\r\n", ["https://console.vast.ai"])).toContain("the run goes to https://console.vast.ai:")
    expect(localKeyWarning("local", ["http://10.0.0.5:8080", "http://10.0.0.5:8080"])).toContain("the run goes to http://10.0.0.5:8080:")
  })

  it("says nothing for another key, no key, or a run with an address of this machine", () => {
    expect(localKeyWarning("abc123", ["https://console.vast.ai"])).toBeNull()
    expect(localKeyWarning(undefined, ["https://console.vast.ai"])).toBeNull()
    expect(localKeyWarning("localhost", ["https://console.vast.ai"])).toBeNull()
    expect(localKeyWarning("local", ["http://localhost:8080", "http://localhost:8080"])).toBeNull()
    expect(localKeyWarning("local", ["http://127.0.0.1:9090"])).toBeNull()
    // One of the two here: the half-local warning is the one that applies.
    expect(localKeyWarning("local", ["http://[::1]:8080", "https://console.vast.ai"])).toBeNull()
  })
})
