// Writes docs/performance/baseline-comparison.md from the results, in the seed report's structure.
import { formatClockTable, formatListenerTable } from '../listeners.ts';
import type { BenchResults } from './results.ts';
import { fmt } from './stats.ts';
import {
  buildTables,
  gpuNotApplicable,
  leakVerdict,
  soakSpeedX,
  type ComparisonTable,
  type TableRow,
} from './tables.ts';

function cell(v: string, unit: string): string {
  if (!unit || !/^-?\d/.test(v)) return v;
  return unit === '%' ? `${v}%` : unit === '×' ? `${v}×` : `${v} ${unit}`;
}

export function tableMarkdown(t: ComparisonTable): string {
  const head =
    '| Measurement | Baseline | Optimized | Improvement | Target |\n|-------------|----------|-----------|-------------|--------|';
  const rows = t.rows.map(
    (r: TableRow) =>
      `| ${r.label} | ${cell(r.baseline, r.unit)} | ${cell(r.optimized, r.unit)} | ${r.improvement} | ${r.target} |`,
  );
  return [head, ...rows].join('\n');
}

function duration(seconds: number): string {
  if (seconds >= 3600) return `${fmt(seconds / 3600, 2)} h`;
  if (seconds >= 120) return `${fmt(seconds / 60, 1)} min`;
  return `${fmt(seconds, 0)} s`;
}

function status(ok: boolean | null): string {
  return ok === null ? '➖ Not applicable' : ok ? '✅ Met' : '❌ Not met';
}

/** Relative change for prose: 'N% less' or 'N% more (a regression)'. */
function lessOrMore(b: number, o: number): string {
  if (!Number.isFinite(b) || !Number.isFinite(o) || b === 0) return 'no ratio: baseline 0';
  const d = ((b - o) / b) * 100;
  return d >= 0 ? `${fmt(d, 1)}% less` : `${fmt(-d, 1)}% more, a regression`;
}

export function renderReport(r: BenchResults): string {
  const tables = buildTables(r);
  const byId = new Map(tables.map((t) => [t.id, t]));
  const sb = r.stream.baseline;
  const so = r.stream.optimized;
  const kb = r.soak.baseline;
  const ko = r.soak.optimized;
  const s = r.settings;
  const cpuReduction = ((sb.cpuPercent.mean - so.cpuPercent.mean) / sb.cpuPercent.mean) * 100;
  const growth8h = (p: 'baseline' | 'optimized'): number => r.soak[p].rssGrowthMbPerAudioHour * 8;
  const optFlags =
    r.semiSpace.chosenFlags.length > 0 ? r.semiSpace.chosenFlags.join(' ') : 'none (V8 defaults)';
  const soakLen = duration(s.soakAudioSeconds);
  const md: string[] = [];
  const p = (...lines: string[]): void => {
    md.push(...lines, '');
  };

  p(
    '# Performance Baseline Comparison',
    `**Date**: ${r.finishedAt.slice(0, 10)} (run ${r.startedAt} → ${r.finishedAt}, ${duration(r.wallSeconds)} of wall time)  `,
    `**Mode**: ${r.settings.mode === 'full' ? 'full' : 'quick (CI-sized: short runs, numbers are indicative only)'}  `,
    `**Commit**: \`${r.gitCommit}\`  `,
    `**Machine**: ${r.machine.cpuModel}, ${r.machine.cores} cores, ${r.machine.memoryGb} GB RAM; ${r.machine.os}; Node.js ${r.machine.node} (V8 ${r.machine.v8})  `,
    `**Command**: \`${r.command}\`  `,
    `**Run length**: ${duration(s.streamSeconds)} of streaming per profile (after ${duration(s.warmupSeconds)} of warm-up), ${soakLen} of audio per profile in the accelerated memory soak, listener scale ${s.listenerCounts.join(', ')} × ${duration(s.listenerSeconds)}, young-generation comparison ${s.semiSizesMb.length} × ${duration(s.semiSeconds)}.`,
  );
  p(
    '## Overview',
    "This report compares the two performance profiles of one codebase (as the project's performance design defines them): the naive `baseline` profile and the default `optimized` profile, under identical conditions, to check the success criteria inherited from the Python prototype this project replaces (SC-001: chunks delivered within 50 ms; SC-003: CPU reduction; SC-004: memory growth over 8 hours; SC-007: GPU benefit; SC-008: jitter; the first table gives each one's target) and this project's stricter goals. Every number below was measured by this run; the raw results are in `baseline-comparison.json` beside this file.",
  );
  p(
    '## Measurement Methodology',
    '### Baseline (`--profile baseline`)',
    '- **Configuration**: synthesis on the main event loop, chunk by chunk when it is due; encoding once per listener per chunk (each listener has its own Opus encoder); buffers allocated per chunk; default V8 flags.',
    `- **Server**: \`node --trace-gc ${(sb.serverEntry ?? ['--import', 'tsx', 'src/cli/main.ts']).join(' ')} ${sb.serverArgs.join(' ')}\``,
    `- **Test Duration**: ${duration(sb.seconds)} of continuous streaming after ${duration(sb.warmupSeconds)} of warm-up`,
    '- **Conditions**: one WebSocket listener (Opus) on station `bench`, created with `POST /api/stations {"id":"bench","params":{"bpm":70,"key":"A","mode":"aeolian"},"seed":12345}`: 70 BPM, A aeolian (A natural minor), fixed seed. The server\'s own `default` station has no listener: the baseline renders only the chunks it sends, and the optimized profile lets an unlistened station idle (no synthesis, no encoding; lazy stations), so neither renders it.',
    '',
    '### Optimized (`--profile optimized`, the default)',
    `- **Configuration**: synthesis in one engine worker thread rendering ahead into a shared ring; encoding once per chunk, the same bytes for every listener; preallocated buffers; V8 flags: ${optFlags} (chosen by measurement, below).`,
    `- **Server**: \`node ${[...so.nodeFlags, '--trace-gc', ...(so.serverEntry ?? ['--import', 'tsx', 'src/cli/main.ts']), ...so.serverArgs].join(' ')}\``,
    `- **Test Duration**: ${duration(so.seconds)} of continuous streaming after ${duration(so.warmupSeconds)} of warm-up`,
    '- **Conditions**: identical to baseline',
    '',
    '### How each figure is measured',
    r.streamsConcurrent
      ? '- **Processes**: the two streaming runs ran at the same time, the baseline server pinned to CPU 0 and the optimized server to CPU 1 with `taskset`, each with its own load generator (`bench/load-generator.ts`, a separate process on loopback, one listener) on the other CPU: both profiles saw the same machine over the same 30 minutes. Every other stage pins its server (or its one process) to CPU 0 and its load generator to CPU 1. Nothing else ran on purpose.'
      : `- **Processes**: the server runs pinned to CPU 0 and the load generator (\`bench/load-generator.ts\`, a separate process on loopback) to CPU 1 with \`taskset\` (${sb.pinned ? 'applied' : 'not available on this machine: unpinned'}); the two profiles ran one after the other. Nothing else ran on purpose.`,
    loadLine(r),
    '- **Lateness** (SC-001): at the listener, arrival time minus due time (the chunk header\'s play time minus the 150 ms lead), every chunk of the window; "within 50 ms" is the share of chunks with lateness ≤ 50 ms. Negative lateness is early.',
    '- **Jitter** (SC-008): |inter-arrival interval − 100 ms| at the listener, p95 over the window.',
    '- **Synthesis latency**: the server\'s `auralis_synthesis_seconds{station="bench"}` histogram, the window\'s observations (scrape after minus scrape before), quantiles interpolated linearly inside buckets as PromQL `histogram_quantile` does (buckets 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100 ms, so quantiles are approximate); "Max" is the upper bound of the highest non-empty bucket; "Avg" is `_sum / _count` (exact). The precise table comes from `performance.now()` around every render call of the accelerated soak (one thread, no real-time pacing).',
    '- **CPU**: the server process\'s user + system time (all threads: main, engine worker, libuv, V8) from `/proc/PID/stat`, sampled every second, as % of one core; "Avg" is the whole window\'s CPU time over its wall time, P95 and Max are over the one-second samples.',
    '- **Memory (streaming)**: RSS from `/proc/PID/status` every second; "Initial" is the first sample of the measured window (after warm-up); growth is the least-squares slope over the window, in MB per hour. Heap used is the main thread\'s `nodejs_heap_size_used_bytes`, scraped every 10 s, or every tenth of a short window (the engine worker\'s heap is not in it).',
    `- **Memory (8 h)**: \`bench/memory-soak.ts\` renders and encodes the same station (seed 12345, 70 BPM, A aeolian) in a child process as fast as it can for ${soakLen} of audio per profile (the two profiles in parallel, one per CPU): the optimized path as the engine worker does it (StationRenderer into reused Float32Arrays, Opus into a reused buffer, PCM16, the Ogg page written in place), the baseline path with fresh arrays and buffers per chunk. RSS and heap used are sampled about 2000 times, a settled heap (after a forced full GC, excluded from the GC counts) every 1% of the run; slopes are fitted after the first 10% of the audio, in MB per hour of audio.`,
    "- **GC (streaming)**: the server runs with `--trace-gc`, which reports every pause of every isolate (main thread and engine worker alike). A `PerformanceObserver` on the main thread (`auralis_gc_pause_seconds`) cannot see GC in worker threads, so it would flatter the optimized profile, whose synthesis runs in a worker; its main-thread-only counts are kept in the JSON (`stream.*.mainThreadGc`). **Mapping of the seed's generations**: Gen-0 = minor GC (V8 scavenge of the young generation); Gen-1 = incremental marking steps (V8 has no middle generation; incremental marking is the step before a full collection); Gen-2 = major GC (mark-sweep-compact of the whole heap). In the soak (one thread, `PerformanceObserver`), Gen-1 is the observer's `incremental` kind.",
  );

  const ok = (v: number, limit: number, lower = true): boolean | null =>
    Number.isFinite(v) ? (lower ? v < limit : v >= limit) : false;
  p(
    '## Success Criteria Targets',
    '| Metric | Target | Goal (this project) | Baseline | Optimized | Status |',
    '|--------|--------|------|----------|-----------|--------|',
    `| **SC-001**: Chunk delivery <50ms | 99% | p99 lateness ≤ 5 ms (1 listener) | ${fmt(sb.lateness.within50MsPercent, 2)}% (p99 ${fmt(sb.lateness.p99, 2)} ms) | ${fmt(so.lateness.within50MsPercent, 2)}% (p99 ${fmt(so.lateness.p99, 2)} ms) | ${status(ok(so.lateness.within50MsPercent, 99, false))}${so.lateness.p99 <= 5 ? ', goal met' : ', goal not met'} |`,
    `| **SC-003**: CPU reduction | 30% | 50% | ${fmt(sb.cpuPercent.mean, 2)}% of a core | ${fmt(so.cpuPercent.mean, 2)}% of a core (${lessOrMore(sb.cpuPercent.mean, so.cpuPercent.mean)}) | ${status(ok(cpuReduction, 30, false))}${cpuReduction >= 50 ? ', goal met' : ', goal not met'} |`,
    `| **SC-004**: Memory growth <10MB | 8 hours | < 1 MB/h, flat heap | ${fmt(growth8h('baseline'), 2)} MB over 8 h of audio | ${fmt(growth8h('optimized'), 2)} MB over 8 h of audio | ${status(ok(growth8h('optimized'), 10))}${ko.rssGrowthMbPerAudioHour < 1 && (ko.settledHeapGrowthMbPerAudioHour ?? 0) < 1 ? ', goal met' : ', goal not met'} |`,
    `| **SC-007**: GPU acceleration benefit | 40% | — | ${gpuNotApplicable(r)} | ${gpuNotApplicable(r)} | ${status(null)} |`,
    `| **SC-008**: Jitter <20ms | 95% | p95 ≤ 2 ms (1 listener) | p95 ${fmt(sb.jitter.p95, 2)} ms | p95 ${fmt(so.jitter.p95, 2)} ms | ${status(ok(so.jitter.p95, 20))}${so.jitter.p95 <= 2 ? ', goal met' : ', goal not met'} |`,
    ...goalRows(r),
  );
  p('### Delivery at the listener', tableMarkdown(byId.get('delivery')!));
  p(
    `Chunks received in the window: baseline ${sb.chunksMeasured} of ${sb.expectedChunks} expected, optimized ${so.chunksMeasured} of ${so.expectedChunks}; sequence gaps ${sb.gaps} / ${so.gaps}; chunks flagged discontinuous ${sb.discontinuities} / ${so.discontinuities}.`,
  );

  p(
    `**Analysis**: with one listener, ${fmt(sb.lateness.within50MsPercent, 3)}% (baseline) and ${fmt(so.lateness.within50MsPercent, 3)}% (optimized) of chunks arrived within 50 ms of their due time (SC-001: 99%); lateness p99 ${fmt(sb.lateness.p99, 2)} vs ${fmt(so.lateness.p99, 2)} ms against the goal of 5 ms (${sb.lateness.p99 <= 5 ? 'baseline meets it' : 'baseline misses it'}, ${so.lateness.p99 <= 5 ? 'optimized meets it' : 'optimized misses it'}); jitter p95 ${fmt(sb.jitter.p95, 2)} vs ${fmt(so.jitter.p95, 2)} ms against 2 ms. The largest single lateness was ${fmt(sb.lateness.max, 2)} ms (baseline) and ${fmt(so.lateness.max, 2)} ms (optimized)${so.lateness.max > sb.lateness.max ? ': the optimized profile has the better distribution but the worse single outlier in this window' : ''}.`,
  );
  p('## Detailed Metrics Comparison');
  const analysis: Record<string, string> = {
    synthesis: `In the streaming run the server's histogram puts a chunk's synthesis at p50 ${fmt(sb.synthesisMs.p50, 2)} ms (baseline) and ${fmt(so.synthesisMs.p50, 2)} ms (optimized), p99 ${fmt(sb.synthesisMs.p99, 2)} vs ${fmt(so.synthesisMs.p99, 2)} ms, average ${fmt(sb.synthesisMs.avg, 3)} vs ${fmt(so.synthesisMs.avg, 3)} ms, for 100 ms of audio: ${withinSeed(sb) && withinSeed(so) ? "both profiles are inside the seed's limits (P95 < 20 ms, P99 < 50 ms, average < 100 ms)" : `${withinSeed(sb) ? '' : 'the baseline '}${!withinSeed(sb) && !withinSeed(so) ? 'and ' : ''}${withinSeed(so) ? '' : 'the optimized profile '}exceed${!withinSeed(sb) && !withinSeed(so) ? '' : 's'} the seed's limits (P95 < 20 ms, P99 < 50 ms, average < 100 ms)`}. The render is the same code in both profiles; the optimized profile runs it in a worker thread, so a slow chunk no longer blocks the event loop that sends audio, and the baseline runs it on the main thread between sends. Under an accelerated run with no pacing, rendering alone runs at ${fmt(kb.synthesisRealtimeFactor, 0)}× (baseline path) and ${fmt(ko.synthesisRealtimeFactor, 0)}× (optimized path) real time on one core, against the goal of ≥ 200×: ${ko.synthesisRealtimeFactor >= 200 ? 'met' : 'not met on this machine'}. The largest single render took up to ${fmt(sb.synthesisMs.maxBucketBound, 0)} ms (baseline) and ${fmt(so.synthesisMs.maxBucketBound, 0)} ms (optimized) by the histogram's bucket bounds; in the soak the worst chunk took ${fmt(kb.synthesisMs.max, 0)} / ${fmt(ko.synthesisMs.max, 0)} ms, rare outliers (p99 ${fmt(kb.synthesisMs.p99, 1)} / ${fmt(ko.synthesisMs.p99, 1)} ms) of the kind a descheduled thread or a collection produces; rendering ahead (400 ms) absorbs them in the optimized profile, while in the baseline they delay sending.`,
    'synthesis-precise': `Per-chunk render times measured directly. The two paths run the same renderer; they differ only in whether each chunk's output arrays and encode buffers are fresh (baseline) or reused (optimized), so any difference here is the cost of allocation and of the collections it triggers. Encoding (Opus + PCM16 + Ogg page) averages ${fmt(kb.encodeMs.avg, 3)} vs ${fmt(ko.encodeMs.avg, 3)} ms per chunk.`,
    cpu: `The server process used ${fmt(sb.cpuPercent.mean, 2)}% of one core on average in the baseline profile and ${fmt(so.cpuPercent.mean, 2)}% in the optimized profile: ${lessOrMore(sb.cpuPercent.mean, so.cpuPercent.mean)}, against the seed's 30% target (${cpuReduction >= 30 ? 'met' : 'not met'}) and our 50% goal (${cpuReduction >= 50 ? 'met' : 'not met'}). Neither profile renders the unlistened \`default\` station (the optimized profile lets it idle). With one listener the baseline also encodes once per chunk, so the two do the same synthesis and encoding (${fmt(so.synthesisMs.avg, 3)} + ${fmt(so.encodeMs.avg, 3)} ms per 100 ms chunk, ${fmt(so.synthesisMs.avg + so.encodeMs.avg, 2)}% of a core, in the optimized server), and the comparison measures everything around it: where synthesis runs, per-chunk allocation, and the optimized profile's fixed costs (a worker thread with its own heap, the shared ring, rendering ahead, the kernel send-queue sampler). The listener-scale table below shows the optimized profile at the loads where encoding once per chunk and writing one shared buffer matter.${tenText(r)}`,
    memory: `Over the ${duration(s.streamSeconds)} streaming window RSS moved from ${fmt(sb.memory.initialRssMb, 1)} to ${fmt(sb.memory.finalRssMb, 1)} MB (baseline) and from ${fmt(so.memory.initialRssMb, 1)} to ${fmt(so.memory.finalRssMb, 1)} MB (optimized); fitted slopes are ${fmt(sb.memory.rssGrowthMbPerHour, 2)} and ${fmt(so.memory.rssGrowthMbPerHour, 2)} MB/h. A short window's slope is dominated by the allocator and GC sawtooth, so the 8-hour verdict comes from the accelerated soak: RSS slopes ${fmt(kb.rssGrowthMbPerAudioHour, 3)} (baseline) and ${fmt(ko.rssGrowthMbPerAudioHour, 3)} (optimized) MB per hour of audio, settled heap ${fmt(kb.settledHeapGrowthMbPerAudioHour, 3)} and ${fmt(ko.settledHeapGrowthMbPerAudioHour, 3)} MB/h, i.e. ${fmt(growth8h('baseline'), 2)} and ${fmt(growth8h('optimized'), 2)} MB over 8 h of audio (SC-004 limit 10 MB). Leak verdict (8-h RSS or settled-heap growth ≥ 10 MB): baseline ${leakVerdict(r, 'baseline')}, optimized ${leakVerdict(r, 'optimized')}. Peak RSS in the soak: ${fmt(kb.peakRssMb, 1)} / ${fmt(ko.peakRssMb, 1)} MB.${heapNote(r)}`,
    gpu: gpuText(r),
    gc: `Over the ${duration(s.streamSeconds)} window (all isolates, from --trace-gc): baseline ${sb.gc.minor.count} minor / ${sb.gc.major.count} major collections, ${fmt(r.derived.gcTotalMs.baseline, 1)} ms of pauses in total; optimized ${so.gc.minor.count} minor / ${so.gc.major.count} major, ${fmt(r.derived.gcTotalMs.optimized, 1)} ms (${lessOrMore(r.derived.gcTotalMs.baseline, r.derived.gcTotalMs.optimized)}). Isolates that collected during the window: ${sb.gc.isolates} (baseline) and ${so.gc.isolates} (optimized); a server has its main thread, tsx's module-loader thread, and in the optimized profile the engine worker. The main thread alone (PerformanceObserver, not seeing workers; for the baseline, whose work is all on the main thread, it should agree with --trace-gc): baseline ${sb.mainThreadGc.minor?.count ?? 0} minor / ${sb.mainThreadGc.major?.count ?? 0} major, optimized ${so.mainThreadGc.minor?.count ?? 0} minor / ${so.mainThreadGc.major?.count ?? 0} major.`,
    'gc-soak': `The synthesis and encoding path alone, one thread, the same amount of audio for both: fresh buffers per chunk cost ${kb.gc.minor.count} scavenges and ${fmt(r.derived.soakGcTotalMs.baseline, 1)} ms of pauses over ${soakLen} of audio; the preallocated path ${ko.gc.minor.count} scavenges and ${fmt(r.derived.soakGcTotalMs.optimized, 1)} ms. The optimized soak ran with the chosen V8 flags (${optFlags}); since the two paths differ only in the chunk buffers, the collections that remain in the optimized path come from allocation elsewhere in rendering (composition and synthesis objects), which preallocating the chunk buffers does not remove.`,
  };
  for (const t of tables) {
    if (t.id === 'delivery') continue;
    p(`### ${t.title}`, tableMarkdown(t));
    if (t.id === 'gc') {
      p('**GC Configuration**:', '- Baseline: V8 defaults', `- Optimized: ${optFlags}`);
      p(
        '**Young generation size, measured** (optimized profile, ' +
          `${r.settings.semiListeners} listeners, ${duration(r.settings.semiSeconds)} per setting, all isolates, from --trace-gc):`,
        semiTable(r),
      );
      const slow = r.semiSpace.rows.some((row) => row.run.lateness.p99 > 50);
      p(
        `**Choice**: ${r.semiSpace.rule}` +
          (slow
            ? ' The lateness column is not a fair basis for the choice here: at this listener count on this busy machine the load generator fell behind (lateness p99 over 50 ms), so the GC counts and pauses are the measured quantity.'
            : ''),
      );
    }
    p(`**Analysis**: ${analysis[t.id] ?? ''}`);
  }

  p(
    '## Listener scale (optimized profile)',
    `\`runListenerBench\` (bench/listeners.ts) for ${s.listenerCounts.join(', ')} WebSocket listeners on the default station, ${duration(s.listenerSeconds)} each after 3 s (plus 1 s per 500 listeners) of warm-up, server pinned to CPU 0 and the load generators (one process per other CPU, at most 4) to the other CPUs; server flags \`--profile optimized --workers 1 --lead-ms 150\`, NODE_OPTIONS \`${r.listenerScale.nodeOptions || '(none)'}\`. Goal: p99 lateness ≤ 50 ms and jitter p95 ≤ 10 ms for 5,000 listeners on one core, no gaps for listeners that keep up.`,
    formatListenerTable(r.listenerScale.rows),
    '',
    "The same windows by each clock (docs/ARCHITECTURE.md, \"Measuring the fan-out\"): *per-read* stamps each socket when the load generator reads it, so it includes the generator's own walk over thousands of readable sockets on its core; *batch* stamps every read of one event-loop turn with the turn's first read (when the data was known to have arrived); the server's own histograms give the time from due to the last write of each fan-out.",
    '',
    formatClockTable(r.listenerScale.rows),
  );
  for (const e of r.listenerScale.errors ?? []) p(`**Failed**: ${e}`);
  const big = r.listenerScale.rows[r.listenerScale.rows.length - 1];
  if (big) {
    p(
      `**Analysis**: at ${big.listeners} listener${big.listeners === 1 ? '' : 's'} the server used ${fmt(big.serverCpuPercent, 1)}% of a core with lateness p99 ${fmt(big.latenessP99Ms, 1)} ms and ${big.gaps} gaps (${big.chunksMeasured} of ${big.expectedChunks} chunks received); ${big.latenessP99Ms <= 50 && big.jitterP95Ms <= 10 && big.gaps === 0 ? 'the goal is met' : big.latenessP99Ms <= 50 && big.gaps === 0 ? 'the lateness and gap parts of the goal are met, its jitter part is not' : 'the goal is not met at this size on this machine'}. The load generator (${(big.generatorCpuPercents ?? [big.generatorCpuPercent]).length} process${(big.generatorCpuPercents ?? []).length > 1 ? 'es' : ''} on the other core${(big.generatorCpuPercents ?? []).length > 1 ? 's' : ''}, which other work may also have used during this run) took ${(big.generatorCpuPercents ?? [big.generatorCpuPercent]).map((c) => `${fmt(c, 1)}%`).join(', ')} of its core at this size; when it cannot keep up, its own receive loop adds to the lateness it reports. Goal: lateness p99 ≤ 50 ms and jitter p95 ≤ 10 ms (here ${fmt(big.jitterP95Ms, 2)} ms).`,
    );
  }

  synthesisSection(r, p);
  idleSection(r, p);
  prototypeSection(r, p);
  p(
    '## Optimization Techniques Applied',
    '### Synthesis and encoding',
    '- ✅ **Worker-thread engine**: each station renders in an engine worker thread, ahead of real time (render-ahead 400 ms), into a shared ring of chunks; the main thread only sends.',
    '- ✅ **Encode once per chunk**: Opus, PCM16 and the Ogg page are produced once per chunk in the worker; every listener gets the same bytes (the WebSocket frame header is written into the ring with the chunk, so a send is one socket write).',
    '- ✅ **Preallocated buffers**: render output, encoder scratch and the ring are allocated once; rendering and encoding a chunk allocate nothing of their own (views into the ring instead of copies).',
    '- ✅ **Native Opus** (`@evan/opus`) with an allocation-free fast path; WASM and opusscript as fallbacks.',
    '- ✅ **DSP**: Float64 buses, fused mixing passes, a 256-frame control period (envelopes and parameters updated per block, not per sample), steady-gain paths.',
    '### Memory optimizations',
    `- ${r.semiSpace.chosenFlags.length > 0 ? '✅' : '➖'} **V8 young generation**: ${r.semiSpace.chosenFlags.length > 0 ? `\`${optFlags}\` chosen by measurement (table above); to be set in \`npm start\`` : 'measured (table above); the V8 default kept, no flag won'}.`,
    '- ✅ **Memory monitoring**: RSS and heap growth fitted over time in the server (`auralis_memory_growth_bytes_per_hour`, `auralis_leak_suspected` at 20 MiB/h), GC pauses per kind (`auralis_gc_pause_seconds`).',
    '### Concurrency optimizations',
    '- ✅ **Broadcast**: single encoding, the same buffer written to every listener; a listener over its queue limit skips chunks (flagged discontinuous) instead of delaying others, and is dropped after a stall timeout.',
    '- ✅ **Per-listener cursors** into the shared ring; new listeners get a burst of already-due chunks.',
    '- ➖ **Not applicable**: GPU batch processing, device-specific tuning, GPU cache clearing, torch.compile, kernel fusion (no GPU backend).',
  );
  p(
    '## Running the Benchmarks',
    '```bash',
    '# the full report (30 min streaming per profile, 8 h of audio soak, 1–5000 listeners; over an hour)',
    'npm run bench',
    '# the quick report (about 3 minutes; CI-sized)',
    'npm run bench:quick',
    '# options: --out DIR, --stream-seconds S, --warmup-seconds S, --soak-audio-seconds S,',
    '#          --listener-counts 1,100 --listener-seconds S, --semi-sizes 0,16,32 --semi-seconds S --semi-listeners N',
    'node --import tsx bench/report.ts --quick --out /tmp/report',
    '# the pieces alone',
    'node --expose-gc --import tsx bench/memory-soak.ts --profile optimized --audio-seconds 28800',
    'npm run bench:listeners -- --listeners 1,100,1000,5000 --seconds 20',
    '```',
    '### Collect Metrics',
    '```bash',
    'npm start            # or: node --import tsx src/cli/main.ts serve --profile baseline',
    'curl http://127.0.0.1:8000/metrics',
    '# Grafana: import docs/grafana/auralis.json',
    '```',
  );
  p(
    '## Notes',
    '- Quantiles from a histogram are interpolated inside buckets; where the precise figure matters, it is in the precise table or the JSON.',
    '- Improvement = (baseline − optimized) / baseline, computed from the values as printed; for every row lower is better. "n/a (baseline 0)" or "n/a (baseline < 0)" where the ratio has no meaning.',
    '- GC in worker threads is invisible to a main-thread `PerformanceObserver`; the streaming GC tables use `--trace-gc`, which sees every isolate.',
    `- The memory soak ran ${fmt(soakSpeedX(r), 0)}× faster than real time; it measures growth per hour of audio produced, not per hour of wall time (timers and sockets are not part of it; the streaming run covers them).`,
  );
  return md.join('\n').replace(/\n{3,}/g, '\n\n');
}

/** Seconds since the run started for a UTC "HH:MM:SS" of the same run (which may cross midnight). */
function runSeconds(r: BenchResults, hms: string): number {
  const secs = (x: string): number => {
    const [h, m, sec] = x.split(':').map(Number) as [number, number, number];
    return h * 3600 + m * 60 + sec;
  };
  let t = secs(hms) - secs(r.startedAt.slice(11, 19));
  if (t < -43_200) t += 86_400;
  return t;
}

function loadLine(r: BenchResults): string {
  const all = r.machineLoad?.samples ?? [];
  if (all.length === 0) return '- **Machine load**: not recorded for this run.';
  const summary = (xs: number[]): string => {
    const sorted = [...xs].sort((a, b) => a - b);
    return xs.length === 0
      ? 'no sample'
      : `median ${fmt(sorted[Math.floor(sorted.length / 2)]!, 2)}, max ${fmt(sorted[sorted.length - 1]!, 2)}`;
  };
  let line = `- **Machine load**: the 1-minute load average of this ${r.machine.cores}-core machine during the run (${r.machineLoad!.source}, ${all.length} samples): ${summary(all.map((x) => x.load1))}. The load average counts the benchmark's own busy processes too (about 2 while the soak runs on both cores, well under 1 while one listener streams); load beyond that is other work sharing the CPUs, which inflates tail latencies and CPU figures and need not affect both profiles equally.`;
  const stages = (r.machineLoad!.stages ?? []).filter(
    (s) =>
      /^(young generation|memory soak|listener scale|streaming)/.test(s.stage) &&
      !s.stage.includes('measuring'),
  );
  if (stages.length > 0) {
    const end = r.wallSeconds;
    const parts = stages.map((st, i) => {
      const from = runSeconds(r, st.time);
      const to = i + 1 < stages.length ? runSeconds(r, stages[i + 1]!.time) : end;
      const inside = all.filter((x) => {
        const t = runSeconds(r, x.time);
        return t >= from && t < to;
      });
      return `${st.stage} (from ${st.time} UTC): ${summary(inside.map((x) => x.load1))}`;
    });
    line += ` By stage: ${parts.join('; ')}.`;
  }
  return line;
}

/** A sentence on main-thread heap growth in the streaming run when it exceeds the 1 MB/h goal. */
function heapNote(r: BenchResults): string {
  const over = (['baseline', 'optimized'] as const).filter((p) => r.stream[p].memory.heapGrowthMbPerHour > 1);
  if (over.length === 0) return '';
  const parts = over.map((p) => `${p} ${fmt(r.stream[p].memory.heapGrowthMbPerHour, 2)} MB/h`);
  return ` The main-thread heap grew faster than the 1 MB/h goal over the streaming window (${parts.join(', ')}). A ${fmt(r.settings.streamSeconds / 60, 0)}-minute window cannot tell a slow leak from a heap that has not settled yet, and the soak does not exercise the server's main thread (sockets, metrics, timers), so this calls for a longer real-time run of the server.`;
}

/** Synthesis inside the seed's limits: P95 < 20 ms, P99 < 50 ms, average < 100 ms. */
function withinSeed(run: BenchResults['stream']['baseline']): boolean {
  return run.synthesisMs.p95 < 20 && run.synthesisMs.p99 < 50 && run.synthesisMs.avg < 100;
}

function semiTable(r: BenchResults): string {
  const rows = r.semiSpace.rows.map((row) => {
    const g = row.run.gc;
    const total = g.minor.totalPauseMs + g.incremental.totalPauseMs + g.major.totalPauseMs;
    return `| ${row.semiSpaceMb === 0 ? 'V8 default' : `\`--max-semi-space-size=${row.semiSpaceMb}\``} | ${g.minor.count} | ${fmt(g.minor.totalPauseMs, 1)} | ${g.major.count} | ${fmt(total, 1)} | ${fmt(row.run.cpuPercent.mean, 1)}% | ${fmt(row.run.lateness.p99, 1)} | ${fmt(row.run.memory.finalRssMb, 1)} |`;
  });
  return [
    '| young generation | minor GCs | minor pause total (ms) | major GCs | GC pause total (ms) | server CPU | lateness p99 (ms) | final RSS (MB) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

type Para = (...lines: string[]) => void;

/** The listener-scale row for `n` listeners, if measured. */
function listenerRow(r: BenchResults, n: number) {
  return r.listenerScale.rows.find((row) => row.listeners === n);
}

/** This project's own goals beyond the seed's criteria, with their measured values. */
function goalRows(r: BenchResults): string[] {
  const rows: string[] = [];
  const def = r.synthesis?.rows.find((x) => x.station === 'default');
  if (def) {
    const whole = r.render
      ? `; whole-process render ${fmt(r.render.cpuRealTimeFactor, 0)}× per CPU second`
      : '';
    const met = def.realTimeFactor >= 200 && (!r.render || r.render.cpuRealTimeFactor >= 200);
    rows.push(
      `| Synthesis speed (goal) | — | ≥ 200× real time per core, default station | — | ${fmt(def.realTimeFactor, 0)}× (bench:synth)${whole} | ${met ? '✅ Goal met' : '❌ Goal not met'} |`,
    );
  }
  const big = listenerRow(r, 5000);
  if (big) {
    // Judged on the per-read clock (the stricter one); the batch clock is shown beside it.
    const ok = (p99: number | undefined, j: number | undefined): boolean =>
      p99 !== undefined &&
      j !== undefined &&
      p99 <= 50 &&
      j <= 10 &&
      big.gaps === 0 &&
      (big.protocolErrors ?? 0) === 0;
    const met = ok(big.latenessP99Ms, big.jitterP95Ms);
    const batchMet = ok(big.batchLatenessP99Ms, big.batchJitterP95Ms);
    const batch =
      big.batchLatenessP99Ms === undefined
        ? ''
        : `; batch clock p99 ${fmt(big.batchLatenessP99Ms, 1)} ms, jitter p95 ${fmt(big.batchJitterP95Ms ?? NaN, 1)} ms`;
    rows.push(
      `| 5,000 listeners on one core (goal) | — | p99 lateness ≤ 50 ms, jitter p95 ≤ 10 ms, no gaps | — | per-read clock p99 ${fmt(big.latenessP99Ms, 1)} ms, jitter p95 ${fmt(big.jitterP95Ms, 1)} ms${batch}; ${big.gaps} gaps, ${fmt(big.serverCpuPercent, 0)}% of a core | ${met ? '✅ Goal met' : batchMet ? '❌ Goal not met on the per-read clock (met on the batch clock)' : '❌ Goal not met'} |`,
    );
  }
  if (r.idle) {
    rows.push(
      `| Idle station cost (goal) | — | about zero | — | ${fmt(r.idle.perStation.idle.cpuPercent, 2)}% of a core per idle station | ${Math.abs(r.idle.perStation.idle.cpuPercent) < 0.2 ? '✅ Goal met' : '❌ Goal not met'} |`,
    );
  }
  return rows;
}

function gpuText(r: BenchResults): string {
  const so = r.stream.optimized;
  const ko = r.soak.optimized;
  const synth = so.synthesisMs.avg;
  const enc = so.encodeMs.avg;
  const share = (synth / (synth + enc)) * 100;
  const def = r.synthesis?.rows.find((x) => x.station === 'default');
  const rtf = def
    ? `${fmt(def.realTimeFactor, 0)}× real time per core for the default station (bench:synth)`
    : `${fmt(ko.synthesisRealtimeFactor, 0)}× real time per core (accelerated soak)`;
  return (
    `Auralis has no GPU backend, so SC-007 cannot be measured as a benefit; what was measured instead is the CPU cost a GPU would have to beat. Synthesis runs at ${rtf}${r.render ? `, and a whole-process offline render at ${fmt(r.render.cpuRealTimeFactor, 0)}× per CPU second` : ''}. ` +
    `Per stream, in the optimized server, a 100 ms chunk costs ${fmt(synth, 3)} ms of synthesis (composition and DSP) and ${fmt(enc, 3)} ms of encoding (Opus, PCM16, the Ogg page): synthesis is ${fmt(share, 0)}% of the per-stream cost, encoding ${fmt(100 - share, 0)}%. ` +
    `A GPU could at most remove the synthesis share: the voices and the reverb are data-parallel, but a station renders about 4,800 frames per chunk from a few dozen voices, far below the size at which a kernel launch and the copies to and from the device (microseconds to tens of microseconds each, per chunk and station) pay off; batching many stations per launch would be needed, and would tie their timing together. It could not remove encoding (libopus is sequential, CPU-only code), composition (branching, per-event logic), or sending to listeners (system calls), which dominates at thousands of listeners (listener table). With one core rendering hundreds of stations in real time, a GPU backend would add a device and a failure mode to save a fraction of a percent of a core per station, so none was built; the GPU rows are not applicable, not pending.`
  );
}

function synthesisSection(r: BenchResults, p: Para): void {
  if (!r.synthesis && !r.render) return;
  const lines: string[] = ['## Synthesis speed per preset'];
  if (r.synthesis) {
    lines.push(
      `\`${r.synthesis.command}\` (pinned to CPU 0): each station's whole mix (composition, every instrument, effects) rendered through the engine's renderer on one thread, ${duration(r.synthesis.seconds)} of audio per station after a warm-up, in 100 ms chunks. Real-time factor = audio seconds per CPU second. Goal: ≥ 200× for the default station.`,
      '',
      '| Station | Real-time factor | CPU per 100 ms chunk, p99 |',
      '| --- | ---: | ---: |',
      ...r.synthesis.rows.map(
        (x) => `| ${x.station} | ${fmt(x.realTimeFactor, 0)}× | ${fmt(x.chunkCpuP99Ms, 2)} ms |`,
      ),
    );
  }
  if (r.render) {
    lines.push(
      '',
      `Whole process: \`${r.render.command}\` (default station, pinned to CPU 0) rendered ${duration(r.render.audioSeconds)} of audio in ${fmt(r.render.wallSeconds, 2)} s of wall time including start-up; the process used ${fmt(r.render.cpuSeconds, 2)} s of CPU (all threads, module loading and WAV writing included): ${fmt(r.render.cpuRealTimeFactor, 0)}× real time per CPU second (the command itself reports ${fmt(r.render.realTimeFactor, 0)}× over its rendering loop).`,
    );
  }
  p(...lines);
}

function idleSection(r: BenchResults, p: Para): void {
  const i = r.idle;
  if (!i) return;
  p(
    '## Idle stations',
    `\`${i.command}\` (pinned to CPU 0; a server in the benchmark's process, one engine worker, process CPU of all threads): a station nobody listens to does no synthesis and no encoding (it keeps its clock and parameters, and its score is brought up to date once a second). ${i.stations} stations, ${duration(i.seconds)} per phase.`,
    '',
    '| Per station | CPU (% of one core) | RSS (MB) |',
    '| --- | ---: | ---: |',
    `| idle (nobody listening) | ${fmt(i.perStation.idle.cpuPercent, 2)}% | ${fmt(i.perStation.idle.rssMb, 2)} |`,
    `| one WebSocket listener | ${fmt(i.perStation.listened.cpuPercent, 2)}% | ${fmt(i.perStation.listened.rssMb, 2)} |`,
    `| never idle, nobody listening (\`--idle-after-ms 0\`) | ${fmt(i.perStation.neverIdleNoListener.cpuPercent, 2)}% | ${fmt(i.perStation.neverIdleNoListener.rssMb, 2)} |`,
    '',
    `The whole server with only its \`default\` station: ${fmt(i.defaultStation.noListener, 2)}% of a core with nobody listening, ${fmt(i.defaultStation.oneListener, 2)}% with one listener, ${fmt(i.defaultStation.neverIdleNoListener, 2)}% when the station never idles. RSS per station is within the run-to-run noise of a whole process (several MB), so only the CPU column is a precise figure.`,
  );
}

function prototypeSection(r: BenchResults, p: Para): void {
  const so = r.stream.optimized;
  const def = r.synthesis?.rows.find((x) => x.station === 'default');
  const l10 = r.listenerScale.rows.find((x) => x.listeners >= 10);
  const big = listenerRow(r, 5000);
  p(
    '## The reference prototype and Auralis',
    "The Python prototype that Auralis replaces was measured on a machine of the same kind (Debian 12, 2 cores) before this project started. Its figures, beside this run's:",
    '',
    '| | Python prototype (measured before this project) | Auralis, optimized profile (this run) |',
    '| --- | --- | --- |',
    `| Synthesis speed, one station | 0.97× real time: it falls behind, even with one listener | ${def ? `${fmt(def.realTimeFactor, 0)}× real time per core (default station)` : `${fmt(r.soak.optimized.synthesisRealtimeFactor, 0)}× (soak)`} |`,
    `| Timing at one listener | \\|interval − 100 ms\\| p99 73–89 ms | jitter p99 ${fmt(so.jitter.p99, 2)} ms, p95 ${fmt(so.jitter.p95, 2)} ms; lateness p99 ${fmt(so.lateness.p99, 2)} ms |`,
    `| Ten listeners | listeners competed for one buffer: each got about 10% of the audio | ${l10 ? `${l10.listeners} listeners: ${l10.chunksMeasured} of ${l10.expectedChunks} chunks received (every listener gets every chunk), ${l10.gaps} gaps` : 'not measured in this run'} |`,
    `| Thousands of listeners | not possible (one buffer, synthesis on the serving loop) | ${big ? `5,000 WebSocket listeners on one core: lateness p99 ${fmt(big.latenessP99Ms, 1)} ms at ${fmt(big.serverCpuPercent, 0)}% of the core` : 'not measured in this run'} |`,
    '',
    'The same planning measurements found that a plain Node.js WebSocket server (ws 8, one core, the same buffer sent to every listener) reached 5,000 listeners at about 47% of a core with p99 delivery 62 ms, and 10,000 at 82–93% with p99 about 100 ms; the serial send loop dominated the tail. The listener table above is the same measurement on Auralis.',
  );
}

/** The ten-listener CPU comparison, as a sentence (empty when not measured). */
function tenText(r: BenchResults): string {
  const t = r.tenListeners;
  if (!t) return '';
  const b = t.baseline.cpuPercent.mean;
  const o = t.optimized.cpuPercent.mean;
  return ` With ten listeners on the same station (the seed's own listener target; ${duration(t.baseline.seconds)}, both profiles ${r.streamsConcurrent ? 'at once, one CPU each' : 'in turn'}) the baseline used ${fmt(b, 2)}% of a core and the optimized profile ${fmt(o, 2)}%: ${lessOrMore(b, o)} (optimized ÷ baseline = ${fmt(o / b, 2)}).`;
}
