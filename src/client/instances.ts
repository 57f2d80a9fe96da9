/** Vast's deployments (vast-protocol.md §8.3): where the autoscaler and the webserver are. */
export const instances = {
  prod: { autoscaler: "https://run.vast.ai", webserver: "https://console.vast.ai" },
  alpha: { autoscaler: "https://run-alpha.vast.ai", webserver: "https://console.vast.ai" },
  candidate: { autoscaler: "https://run-candidate.vast.ai", webserver: "https://console.vast.ai" },
  local: { autoscaler: "http://localhost:8080", webserver: "http://localhost:8080" }
} as const

export type Instance = keyof typeof instances

export const instanceNames: ReadonlyArray<Instance> = ["prod", "alpha", "candidate", "local"]
