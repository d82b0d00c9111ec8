/**
 * Naming a query from its nearest references: similarity-weighted kNN voting, and the
 * per-label best similarities that calibration's unknown score is made of. Pure
 * functions over neighbour lists, so benchmarks and calibration use exactly what
 * classify() uses.
 */
import { SkulensError } from '../errors.js';
import type { HeldOutAnswer } from '../adapt/calibrate.js';
import { DEFAULT_K, DEFAULT_TEMPERATURE, type Classification, type ClassifyOptions, type LabelScore, type Neighbor } from './types.js';

/** Each label's best similarity among neighbours sorted best first; the map keeps that order. */
export function bestScoreByLabel(neighbors: readonly Neighbor[]): Map<string, number> {
  const best = new Map<string, number>();
  for (const n of neighbors) if (!best.has(n.label)) best.set(n.label, n.score);
  return best;
}

/** The best similarities of every label but `label`, best first (the cohort term's input). */
export function otherLabelScores(best: ReadonlyMap<string, number>, label: string): number[] {
  const others: number[] = [];
  for (const [l, score] of best) if (l !== label) others.push(score);
  return others;
}

/** Calibrated unknown score from the winner and the other labels' best similarities (best first). */
export type UnknownScorer = (winner: LabelScore, others: number[]) => number;

/**
 * Similarity-weighted kNN voting over neighbours sorted best first: each of the k
 * nearest votes for its label with weight exp((score - best) / temperature). Labels
 * rank by vote, then by their best similarity; labels seen only beyond the k voters
 * rank after them by best similarity.
 */
export function voteNeighbors(neighbors: readonly Neighbor[], options: Required<ClassifyOptions>, scorer?: UnknownScorer): Classification {
  const { k, threshold, top, temperature } = options;
  if (neighbors.length === 0) throw new SkulensError('E_EMPTY', 'No neighbours to vote: the gallery is empty.');
  const bestScore = neighbors[0]!.score;
  const best = bestScoreByLabel(neighbors);
  const weight = new Map<string, number>();
  let total = 0;
  for (const n of neighbors.slice(0, k)) {
    const w = Math.exp((n.score - bestScore) / temperature);
    weight.set(n.label, (weight.get(n.label) ?? 0) + w);
    total += w;
  }
  const ranked: LabelScore[] = [...best.entries()]
    .map(([label, score]) => ({ label, score, votes: (weight.get(label) ?? 0) / total }))
    .sort((a, b) => b.votes - a.votes || b.score - a.score || (a.label < b.label ? -1 : 1));
  const winner = ranked[0]!;
  const unknownScore = scorer ? scorer(winner, otherLabelScores(best, winner.label)) : bestScore;
  return {
    label: winner.label,
    score: winner.score,
    unknownScore,
    unknown: unknownScore < threshold,
    neighbors: neighbors.slice(0, k),
    labels: ranked.slice(0, top),
  };
}

/**
 * How calibrate() scores one held-out reference of `label` from a full ranking of the
 * fold's gallery: the vote as classify() casts it, the own label's best similarity, and
 * the answer's cohort (the other labels' best similarities).
 */
export function heldOutAnswer(ranked: readonly Neighbor[], label: string): HeldOutAnswer {
  const r = voteNeighbors(ranked, { k: DEFAULT_K, threshold: -Infinity, top: 1, temperature: DEFAULT_TEMPERATURE });
  const best = bestScoreByLabel(ranked);
  return { label, answer: r.label, score: r.score, ownScore: best.get(label), others: otherLabelScores(best, r.label) };
}
