/**
 * `skulens eval <queries> --gallery <file> [--json]`: accuracy of a gallery on labelled
 * queries (class folders or a path,label CSV). An "unknown" answer counts as wrong.
 */
import type { Command } from 'commander';
import { DEFAULT_K, SkulensError, type Classification } from '../index.js';
import { action, embedItems, out, readLabelledImages } from './common.js';
import { addGalleryQueryOptions, openGallery } from './options.js';

export interface EvalReport {
  /** Queries evaluated (images that could be read). */
  n: number;
  top1: number;
  top5: number;
  /** label → top-1 accuracy over that label's queries. */
  perClass: Record<string, number>;
  /** Mean of perClass (each class weighs the same). */
  meanPerClass: number;
  /** Share of queries answered "unknown". */
  unknown: number;
  k: number;
  threshold: number;
  /** Images that could not be read (reported on stderr). */
  skipped: number;
  /** Queries whose label is not in the gallery (they can only be right by being "unknown"... which counts as wrong here). */
  notInGallery: number;
  /** Best-similarity quantiles of right and wrong top-1 answers, to choose a threshold. */
  scores: { correct: Quantiles | null; wrong: Quantiles | null };
  /** The most frequent confusions: truth → answer. */
  confusions: { truth: string; answer: string; count: number }[];
}

interface Quantiles {
  p05: number;
  p25: number;
  p50: number;
  p75: number;
  p95: number;
}

export function registerEval(program: Command): void {
  addGalleryQueryOptions(
    program
      .command('eval')
      .description('measure top-1 / top-5 accuracy of a gallery on labelled queries')
      .argument('<queries>', 'folder with one sub-folder per label, or a CSV manifest with a path,label header'),
  )
    .option('--json', 'print one JSON object: n, top1, top5, perClass, unknown, ...')
    .action(
      action(async (queries: string, opts: { gallery: string; k?: number; threshold?: number; embedder?: string; batchSize: number; maxPixels?: number; json?: boolean }) => {
        const items = await readLabelledImages(queries, 'query');
        const { gallery, embedder } = await openGallery(opts.gallery, opts.embedder, opts.batchSize, opts.maxPixels);
        const k = opts.k ?? DEFAULT_K;
        const threshold = opts.threshold ?? gallery.threshold;
        let vectors: (Float32Array | null)[];
        try {
          vectors = await embedItems(embedder, items, 'evaluating');
        } finally {
          await embedder.dispose();
        }
        const ok = vectors.flatMap((v, i) => (v ? [{ v, truth: items[i]!.label }] : []));
        const answers = gallery.classifyBatch(
          ok.map((o) => o.v),
          { k, threshold, top: 5 },
        );
        const results = ok.map((o, i) => ({ truth: o.truth, r: answers[i]! }));
        if (results.length === 0) throw new SkulensError('E_IMAGE_DECODE', `None of the ${items.length} query images could be read.`);
        const report = summarize(results, new Set(gallery.labels), { k, threshold, skipped: items.length - results.length });
        if (opts.json) return out(JSON.stringify(report) + '\n');
        await out(formatReport(report));
      }),
    );
}

export function summarize(results: { truth: string; r: Classification }[], known: Set<string>, extra: { k: number; threshold: number; skipped: number }): EvalReport {
  const n = results.length;
  let top1 = 0;
  let top5 = 0;
  let unknown = 0;
  let notInGallery = 0;
  const per = new Map<string, [number, number]>();
  const right: number[] = [];
  const wrong: number[] = [];
  const confusions = new Map<string, number>();
  for (const { truth, r } of results) {
    const ok = !r.unknown && r.label === truth;
    if (ok) top1++;
    if (!r.unknown && r.labels.slice(0, 5).some((l) => l.label === truth)) top5++;
    if (r.unknown) unknown++;
    if (!known.has(truth)) notInGallery++;
    (r.label === truth ? right : wrong).push(r.score);
    if (!ok) {
      const key = `${truth}\u0000${r.unknown ? '(unknown)' : r.label}`;
      confusions.set(key, (confusions.get(key) ?? 0) + 1);
    }
    const c = per.get(truth) ?? [0, 0];
    c[0] += ok ? 1 : 0;
    c[1]++;
    per.set(truth, c);
  }
  const perClass = Object.fromEntries([...per.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([l, [a, b]]) => [l, round(a / b)]));
  const accs = Object.values(perClass);
  return {
    n,
    top1: round(top1 / n),
    top5: round(top5 / n),
    perClass,
    meanPerClass: round(accs.reduce((s, x) => s + x, 0) / accs.length),
    unknown: round(unknown / n),
    k: extra.k,
    threshold: extra.threshold,
    skipped: extra.skipped,
    notInGallery,
    scores: { correct: quantiles(right), wrong: quantiles(wrong) },
    confusions: [...confusions.entries()]
      .map(([key, count]) => {
        const [truth, answer] = key.split('\u0000') as [string, string];
        return { truth, answer, count };
      })
      .sort((a, b) => b.count - a.count || (a.truth < b.truth ? -1 : 1))
      .slice(0, 10),
  };
}

function quantiles(xs: number[]): Quantiles | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => round(s[Math.min(s.length - 1, Math.floor(p * s.length))]!);
  return { p05: q(0.05), p25: q(0.25), p50: q(0.5), p75: q(0.75), p95: q(0.95) };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

function formatReport(r: EvalReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const q = (x: Quantiles | null) => (x ? `p05 ${x.p05.toFixed(3)}  p50 ${x.p50.toFixed(3)}  p95 ${x.p95.toFixed(3)}` : '-');
  const lines = [
    `queries ${r.n}${r.skipped ? ` (${r.skipped} unreadable, skipped)` : ''}: top-1 ${pct(r.top1)}, top-5 ${pct(r.top5)}, mean per class ${pct(r.meanPerClass)}, unknown ${pct(r.unknown)} (k=${r.k}, threshold ${r.threshold})`,
    ...(r.notInGallery ? [`${r.notInGallery} queries have labels the gallery does not hold`] : []),
    `best similarity of right answers: ${q(r.scores.correct)}`,
    `best similarity of wrong answers: ${q(r.scores.wrong)}`,
    '',
    'label                                    top-1',
    ...Object.entries(r.perClass).map(([l, a]) => `${l.padEnd(40)} ${pct(a).padStart(6)}`),
  ];
  if (r.confusions.length) {
    lines.push('', 'most frequent confusions (truth → answer):', ...r.confusions.map((c) => `  ${c.truth} → ${c.answer}: ${c.count}`));
  }
  return lines.join('\n') + '\n';
}
