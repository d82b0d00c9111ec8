/**
 * A progress bar on stderr with count, rate and ETA. It draws only when stderr is a
 * TTY, so pipes, CI logs and --json runs stay clean. Forty lines: cli-progress 3.12 would add six packages
 * (it and string-width's tree) to the CLI's runtime dependencies for nothing we use.
 */
export interface Progress {
  update(done: number): void;
  done(): void;
}

export function createProgress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY || total <= 0) return { update() {}, done() {} };
  const start = performance.now();
  let last = 0;
  const draw = (done: number, final = false) => {
    const now = performance.now();
    if (!final && now - last < 100) return; // at most 10 redraws a second
    last = now;
    const elapsed = (now - start) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? (total - done) / rate : 0;
    const width = 24;
    const filled = Math.round((done / total) * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    stream.write(`\r${label} ${bar} ${done}/${total} ${rate.toFixed(1)}/s ETA ${formatSeconds(eta)}   `);
  };
  return {
    update: (done) => draw(done),
    done: () => {
      draw(total, true);
      stream.write('\n');
    },
  };
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  const r = Math.round(s % 60);
  return m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}
