// A child process for redis.test.ts: a cluster member that takes its slots and waits to be killed
// (test/support/clusterHolder.ts). argv: redisUrl, cluster name, leaseMs, slots.
import { holdSlots } from '../support/clusterHolder';

holdSlots(process.argv.slice(2));
