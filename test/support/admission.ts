// An idle admission state at the default limit, for the tests and benches that feed one to a view or report.
import type { AdmissionState } from '../../src/core';

export const IDLE_ADMISSION: Readonly<AdmissionState> = Object.freeze({
  active: 0,
  queued: Object.freeze({ HIGH: 0, NORMAL: 0, LOW: 0 }),
  delayed: 0,
  limit: 4,
  paused: false,
  externalActive: 0,
  mode: 'fixed',
  limitReason: 'aios.maxConcurrency is 4',
});
