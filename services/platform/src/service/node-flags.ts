/**
 * V8 flags every paystream service process runs with (`npm start`, the benchmarks and the multi-process tests pass
 * them; an operator running `paystream run <service>` directly passes them the same way, e.g. through NODE_OPTIONS).
 *
 * `--max-semi-space-size=64` (MiB): the services hold whole fetched batches while they work on them, so a 16 MiB young
 * generation promoted much of each batch and collected it again later; with 64 MiB the sink spent about 15% less CPU
 * per row (`npm run bench -- sink`, measured side by side). Costs at most 3 × 64 MiB more heap per process. The
 * gateway's scavenges get longer (15–21 ms every ~0.5 s at 1,000 charges/s, against 8 ms every ~0.15 s with the
 * default), but alternating API bench runs (4 + 4, without the sink) gave p99 120–151 ms with it against 140–166 ms
 * without, so the gateway keeps it too.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
