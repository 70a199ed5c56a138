// What the status-bar indicator shows for a set of figures. Pure (no `vscode`), so it is unit-tested in Node.
import type { AdmissionState, SystemSample } from '../core';
import type { ServiceStatus } from '../python/supervisor';

export type IndicatorState = 'normal' | 'throttling' | 'paused' | 'unhealthy' | 'starting' | 'down' | 'noPython';

export interface IndicatorModel {
  state: IndicatorState;
  text: string;
  background?: string;
}

/** Pure: what the indicator shows for these figures (kept apart from VS Code for clarity and testing). */
export function indicatorModel(admission: AdmissionState, service: { status: ServiceStatus; noInterpreter?: true }, system: SystemSample): IndicatorModel {
  const queued = admission.queued.HIGH + admission.queued.NORMAL + admission.queued.LOW;
  const load = `${admission.active}/${admission.limit}`;
  const queue = queued > 0 ? ` · ${queued} queued` : '';
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
  if (queued > 0 || admission.delayed > 0) {
    return { state: 'throttling', text: `$(watch) AIOS ${load}${queue}${cpu}`, background: 'statusBarItem.warningBackground' };
  }
  if (service.status === 'starting') return { state: 'starting', text: `$(sync~spin) AIOS ${load} · starting` };
  return { state: 'normal', text: `$(pulse) AIOS ${load}${cpu}` };
}
