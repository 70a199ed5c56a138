// What the status-bar indicator shows for a set of figures. Pure (no `vscode`), so it is unit-tested in Node.
import type { AdmissionState, SharedState, SystemSample } from '../core';
import type { ServiceStatus } from '../python/supervisor';

export type IndicatorState = 'normal' | 'throttling' | 'paused' | 'unhealthy' | 'starting' | 'down' | 'noPython' | 'clusterFallback';

export interface IndicatorModel {
  state: IndicatorState;
  text: string;
  background?: string;
}

/** Pure: what the indicator shows for these figures (kept apart from VS Code for clarity and testing). */
export function indicatorModel(admission: AdmissionState, service: { status: ServiceStatus; noInterpreter?: true }, system: SystemSample): IndicatorModel {
  const queued = admission.queued.HIGH + admission.queued.NORMAL + admission.queued.LOW;
  const load = `${admission.active}/${admission.limit}`;
  // Commands in backoff are queued but may not start yet: without saying so, "0/64 · 84 queued" reads as a stall.
  const backoff = admission.delayed > 0 ? ` (${admission.delayed} in backoff)` : '';
  const queue = queued > 0 ? ` · ${queued} queued${backoff}` : '';
  const cpu = system.sampledAt > 0 ? ` · CPU ${Math.round(system.cpuPercent)}%` : '';
  if (service.noInterpreter && service.status !== 'healthy' && service.status !== 'unhealthy') {
    return { state: 'noPython', text: '$(error) AIOS: no Python', background: 'statusBarItem.errorBackground' };
  }
  if (service.status === 'stopped' || service.status === 'crashed') {
    return { state: 'down', text: `$(error) AIOS service down`, background: 'statusBarItem.errorBackground' };
  }
  if (admission.paused) return { state: 'paused', text: `$(debug-pause) AIOS paused${queue}`, background: 'statusBarItem.warningBackground' };
  if (service.status === 'unhealthy') {
    return { state: 'unhealthy', text: `$(warning) AIOS ${load}${queue} · unhealthy`, background: 'statusBarItem.warningBackground' };
  }
  const shared = admission.shared;
  // Redis lost: this window keeps to its own limit, and the cluster as a whole may run more than its limit.
  if (shared?.status === 'fallback') {
    return { state: 'clusterFallback', text: `$(warning) AIOS ${load}${queue} · Redis unreachable`, background: 'statusBarItem.warningBackground' };
  }
  // Shared: what runs here, and the cluster's slots in use of its limit (this window's `limit` is what it holds).
  const shown = shared ? `${admission.active} · cluster ${shared.status === 'connecting' ? '…' : shared.inUse}/${shared.clusterLimit}` : load;
  if (queued > 0 || admission.delayed > 0) {
    return { state: 'throttling', text: `$(watch) AIOS ${shown}${queue}${cpu}`, background: 'statusBarItem.warningBackground' };
  }
  if (service.status === 'starting') return { state: 'starting', text: `$(sync~spin) AIOS ${shown} · starting` };
  return { state: 'normal', text: `$(pulse) AIOS ${shown}${cpu}` };
}

/** One line on the shared limit (the tooltip's Limit row, the tree): which limit applies, and why. */
export function describeSharedLimit(s: SharedState, clock: (epochMs: number) => string): string {
  const where = `'${s.cluster}' on ${s.redis}`;
  if (s.status === 'connecting') return `shared ${where}: connecting to Redis (nothing starts until it answers)`;
  if (s.status === 'fallback') {
    return `Redis unreachable since ${clock(s.since)}${s.lastError ? ` (${s.lastError})` : ''}: this window keeps to its own limit, ${s.clusterLimit}`;
  }
  const hosts = `${s.hosts} window${s.hosts === 1 ? '' : 's'}`;
  const elsewhere = s.waitingElsewhere > 0 ? `; ${s.waitingElsewhere} waiting elsewhere` : '';
  return `shared ${where}: ${s.inUse} of ${s.clusterLimit} slots in use by ${hosts}; this window holds ${s.held}${elsewhere}`;
}

/** One line per window holding or wanting slots of the shared limit, this one marked. */
export function describeSharedHolders(s: SharedState): { label: string; value: string; self: boolean }[] {
  return s.holders.map((h) => {
    const waiting = h.waiting.HIGH + h.waiting.NORMAL + h.waiting.LOW;
    const wants = waiting > 0 ? ` · waiting HIGH ${h.waiting.HIGH} / NORMAL ${h.waiting.NORMAL} / LOW ${h.waiting.LOW}` : '';
    return {
      label: h.self ? `${h.label} (this window)` : h.label,
      value: `${h.slots} slot${h.slots === 1 ? '' : 's'} · lease ${Math.max(0, Math.ceil(h.leaseLeftMs / 1000))} s${wants}`,
      self: h.self,
    };
  });
}
