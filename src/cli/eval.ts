/**
 * `skulens eval <queries> --gallery <file> [--json]`: accuracy of a gallery on labelled
 * queries (class folders or a path,label CSV). For a query of a class the gallery holds an
 * "unknown" answer counts as wrong; for one of a class it does not hold, it is the right answer.
 */
import type { Command } from 'commander';
import { DEFAULT_K, SkulensError, type Classification } from '../index.js';
import { action, embedItems, out, readLabelledImages } from './common.js';
import { addGalleryQueryOptions, openGallery, type GalleryQueryFlags } from './options.js';
import { plural } from '../core/plural.js';

export interface EvalReport {
  /** Queries evaluated (images that could be read). */
  n: number;
  /**
   * top1, top5, perClass, meanPerClass, unknown, scores.correct/wrong: over the queries of
   * classes the gallery holds (null when there are none). Queries of other classes are
   * counted apart (notInGallery…): their right answer is "unknown".
   */
  top1: number | null;
  top5: number | null;
  /** label → top-1 accuracy over that label's queries. */
  perClass: Record<string, number>;
  /** Mean of perClass (each class weighs the same). */
  meanPerClass: number | null;
  /** Share of the queries of the gallery's classes answered "unknown" (wrongly). */
  unknown: number | null;
  k: number;
  threshold: number;
  /** Images that could not be read (reported on stderr). */
  skipped: number;
  /** Queries whose label is not in the gallery. */
  notInGallery: number;
  /** Share of those answered "unknown" (right for them); null when there are none. */
  notInGalleryUnknown: number | null;
  /** label → share of its queries answered "unknown", for labels the gallery does not hold. */
  notInGalleryPerClass: Record<string, number>;
  /**
   * Quantiles of the decision score (Classification.unknownScore: the number compared with
   * the threshold, on the scale --threshold takes) of right and wrong top-1 answers, and of
   * the queries of classes the gallery does not hold, to choose a threshold.
   */
  scores: { correct: Quantiles | null; wrong: Quantiles | null; notInGallery: Quantiles | null };
  /** The most frequent errors: truth → answer ("(unknown)" for a query of a gallery class; a named label for any). */
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
      action(async (queries: string, opts: GalleryQueryFlags & { json?: boolean }) => {
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

export function summarize(
  results: { truth: string; r: Classification }[],
  known: Set<string>,
  extra: { k: number; threshold: number; skipped: number },
): EvalReport {
  let top1 = 0;
  let top5 = 0;
  let unknown = 0;
  let foreignUnknown = 0;
  const per = new Map<string, [number, number]>();
  const foreign = new Map<string, [number, number]>();
  const right: number[] = [];
  const wrong: number[] = [];
  const foreignScores: number[] = [];
  const confusions = new Map<string, number>();
  const count = (m: Map<string, [number, number]>, label: string, hit: boolean) => {
    const c = m.get(label) ?? [0, 0];
    c[0] += hit ? 1 : 0;
    c[1]++;
    m.set(label, c);
  };
  for (const { truth, r } of results) {
    // A query of a class the gallery does not hold is right when it is "unknown", wrong when named.
    const inGallery = known.has(truth);
    const ok = inGallery ? !r.unknown && r.label === truth : r.unknown;
    if (inGallery) {
      if (ok) top1++;
      if (!r.unknown && r.labels.slice(0, 5).some((l) => l.label === truth)) top5++;
      if (r.unknown) unknown++;
      (r.label === truth ? right : wrong).push(r.unknownScore);
      count(per, truth, ok);
    } else {
      if (ok) foreignUnknown++;
      foreignScores.push(r.unknownScore);
      count(foreign, truth, ok);
    }
    if (!ok) {
      const key = `${truth}\u0000${r.unknown ? '(unknown)' : r.label}`;
      confusions.set(key, (confusions.get(key) ?? 0) + 1);
    }
  }
  const shares = (m: Map<string, [number, number]>) =>
    Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([l, [a, b]]) => [l, round(a / b)]));
  const perClass = shares(per);
  const accs = Object.values(perClass);
  const inGallery = results.length - foreignScores.length;
  const share = (x: number, of: number) => (of > 0 ? round(x / of) : null);
  return {
    n: results.length,
    top1: share(top1, inGallery),
    top5: share(top5, inGallery),
    perClass,
    meanPerClass: share(
      accs.reduce((s, x) => s + x, 0),
      accs.length,
    ),
    unknown: share(unknown, inGallery),
    k: extra.k,
    threshold: extra.threshold,
    skipped: extra.skipped,
    notInGallery: foreignScores.length,
    notInGalleryUnknown: share(foreignUnknown, foreignScores.length),
    notInGalleryPerClass: shares(foreign),
    scores: { correct: quantiles(right), wrong: quantiles(wrong), notInGallery: quantiles(foreignScores) },
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
  const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);
  const q = (x: Quantiles | null) => (x ? `p05 ${x.p05.toFixed(3)}  p50 ${x.p50.toFixed(3)}  p95 ${x.p95.toFixed(3)}` : '-');
  const inGallery = r.n - r.notInGallery;
  const foreignClasses = Object.keys(r.notInGalleryPerClass).length;
  const queries = (n: number) => plural(n, 'query', 'queries');
  const classes = (n: number) => plural(n, 'class', 'classes');
  const lines = [
    `queries ${r.n}${r.skipped ? ` (${r.skipped} unreadable, skipped)` : ''} (k=${r.k}, threshold ${r.threshold})`,
    inGallery > 0
      ? `${queries(inGallery)} of the gallery's ${classes(Object.keys(r.perClass).length)}: top-1 ${pct(r.top1)}, top-5 ${pct(r.top5)}, mean per class ${pct(r.meanPerClass)}, unknown ${pct(r.unknown)}`
      : "no queries of the gallery's classes",
    ...(r.notInGallery
      ? [
          `${queries(r.notInGallery)} of ${classes(foreignClasses)} not in the gallery: ${pct(r.notInGalleryUnknown)} answered unknown (their right answer)`,
        ]
      : []),
    'decision score (the number compared with the threshold; --threshold takes this scale):',
    `  right answers: ${q(r.scores.correct)}`,
    `  wrong answers: ${q(r.scores.wrong)}`,
    ...(r.notInGallery ? [`  classes not in the gallery: ${q(r.scores.notInGallery)}`] : []),
    '',
    'label                                    top-1',
    ...Object.entries(r.perClass).map(([l, a]) => `${l.padEnd(40)} ${pct(a).padStart(6)}`),
  ];
  if (r.notInGallery) {
    lines.push(
      '',
      'not in the gallery                       unknown',
      ...Object.entries(r.notInGalleryPerClass).map(([l, a]) => `${l.padEnd(40)} ${pct(a).padStart(6)}`),
    );
  }
  if (r.confusions.length) {
    lines.push('', 'most frequent errors (truth → answer):', ...r.confusions.map((c) => `  ${c.truth} → ${c.answer}: ${c.count}`));
  }
  return lines.join('\n') + '\n';
}
