// A real Telemetry, a StaticSampler and an admission state the test sets: what a MetricSource reads.
import type { AdmissionState } from '../../../src/core/admission/types';
import { ManualClock } from '../../../src/core/clock';
import { MetricSource } from '../../../src/core/rules/metrics';
import { StaticSampler } from '../../../src/core/system/sampler';
import { Telemetry } from '../../../src/core/telemetry/telemetry';
import type { EventType } from '../../../src/core/types';

/** A real Telemetry, a StaticSampler and an admission state the test sets: the parts a MetricSource reads. */
export function world(clock = new ManualClock()) {
  const sampler = new StaticSampler();
  const admission: Pick<AdmissionState, 'queued'> = { queued: { HIGH: 0, NORMAL: 0, LOW: 0 } };
  const telemetry = new Telemetry({
    clock,
    maxRecentEvents: 100,
    user: {},
    system: () => ({ platform: 'linux', arch: 'x64', nodeVersion: 'v20', cpuCount: 2, cpuPercent: 0, memoryPercent: 0, pythonProcesses: -1 }),
    service: () => ({}),
    realtime: () => {
      throw new Error('not used');
    },
    storage: () => ({ enabled: false, writtenEvents: 0, droppedEvents: 0, restored: false }),
  });
  const source = new MetricSource({ sampler, telemetry, admission: () => admission, clock });
  let n = 0;
  const emit = (eventType: EventType, commandType = 'ECHO', durationMs?: number, metadata?: Record<string, unknown>) =>
    telemetry.emit(eventType, `c${++n}`, commandType, 'NORMAL', durationMs, metadata, durationMs !== undefined);
  return { clock, sampler, admission, telemetry, source, emit };
}
