import { collectDefaultMetrics, Registry } from "prom-client"

/**
 * A Prometheus registry of one service's own (never prom-client's global one, so two instances in one
 * process — tests — do not share counters), with Node's process metrics.
 */
export const processRegistry = (): Registry => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  // These three gauges end in `_total`, which Prometheus reserves for counters (`promtool check metrics`
  // rejects them); the same numbers remain as nodejs_active_handles/_requests/_resources.
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) {
    registry.removeSingleMetric(name)
  }
  return registry
}
