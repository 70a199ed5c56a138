// Bench entry: `node --expose-gc out/bench/index.js [--quick]`. Prints one JSON object per line on stdout
// (see bench/types.ts); progress goes to stderr. Register more benches in `benches`.
import { adaptiveBench } from './adaptive.bench';
import { cliBench } from './cli.bench';
import { admissionBench } from './admission.bench';
import { clusterBench } from './cluster.bench';
import { exportBench } from './export.bench';
import { controlBench } from './control.bench';
import { dashboardBench } from './dashboard.bench';
import { exportFileBench } from './exportFile.bench';
import { learningBench } from './learning.bench';
import { pipelineBench } from './pipeline.bench';
import { pythonBench } from './python.bench';
import { rulesBench } from './rules.bench';
import { samplerBench } from './sampler.bench';
import { sourcesBench } from './sources.bench';
import { telemetryBench } from './telemetry.bench';
import { log, type Bench, type BenchResult } from './types';

export const benches: Bench[] = [
  admissionBench,
  adaptiveBench,
  pipelineBench,
  telemetryBench,
  samplerBench,
  pythonBench,
  exportBench,
  controlBench,
  dashboardBench,
  exportFileBench,
  rulesBench,
  sourcesBench,
  clusterBench,
  learningBench,
  cliBench,
];

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  if (!(globalThis as { gc?: unknown }).gc) log('run with --expose-gc for meaningful heap figures');
  for (const bench of benches) {
    if (only && !only.split(',').includes(bench.name)) continue;
    log(`${bench.name}...`);
    const results = await bench.run({ quick });
    for await (const r of results as AsyncIterable<BenchResult>) process.stdout.write(`${JSON.stringify(r)}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
