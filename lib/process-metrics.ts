import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * prom-client's process and Node.js metrics, less the three gauges it names *_total: Prometheus keeps
 * that suffix for counters, and nodejs_active_handles, _requests and _resources carry the same counts.
 */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
}
