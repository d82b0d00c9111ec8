/**
 * A progress bar on stderr with count, rate and ETA. It draws only when stderr is a
 * TTY, so pipes, CI logs and --json runs stay clean. Eighty lines: cli-progress 3.12 would add six packages
 * (it and string-width's tree) to the CLI's runtime dependencies for nothing we use.
 *
 * While the bar is shown, anything else written to the terminal (per-image lines on stdout,
 * "skipped" notes on stderr, a library's console.warn) first clears the bar's line and then
 * redraws the bar below it, so a line never starts after the bar's text.
 */
export interface Progress {
  update(done: number): void;
  done(): void;
}

type Stream = Pick<NodeJS.WriteStream, 'write' | 'isTTY' | 'columns'>;

/** Carriage return, then erase the line: where the bar was is empty and the cursor at its start. */
export const CLEAR_LINE = '\r\x1b[K';

export function createProgress(
  label: string,
  total: number,
  stream: Stream = process.stderr,
  others: readonly Stream[] = [process.stdout],
): Progress {
  if (!stream.isTTY || total <= 0) return { update() {}, done() {} };
  const start = performance.now();
  const write = stream.write.bind(stream) as (text: string) => boolean;
  let last = 0;
  let line = '';
  const draw = (done: number, final = false) => {
    const now = performance.now();
    if (!final && now - last < 100) return; // at most 10 redraws a second
    last = now;
    const elapsed = (now - start) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? (total - done) / rate : 0;
    const width = 24;
    const filled = Math.round((Math.min(done, total) / total) * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    line = `${label} ${bar} ${done}/${total} ${rate.toFixed(1)}/s ETA ${formatSeconds(eta)}`;
    // A bar wider than the terminal wraps, and "\r" would then redraw only its last row.
    if (stream.columns) line = line.slice(0, stream.columns - 1);
    hook();
    write(CLEAR_LINE + line);
  };
  // The streams' own write, swapped while the bar is shown for one that clears the bar first.
  const hooked: { s: Stream; write: Stream['write'] }[] = [];
  const hook = () => {
    if (hooked.length > 0) return;
    for (const s of [stream, ...others.filter((o) => o !== stream && o.isTTY)]) {
      const own = s.write;
      hooked.push({ s, write: own });
      s.write = ((...args: Parameters<Stream['write']>) => {
        write(CLEAR_LINE);
        const ok = (own as (...a: unknown[]) => boolean).apply(s, args);
        write(line);
        return ok;
      }) as Stream['write'];
    }
  };
  const unhook = () => {
    for (const { s, write: own } of hooked.splice(0)) s.write = own;
  };
  return {
    update: (done) => draw(done),
    done: () => {
      draw(total, true);
      unhook();
      write('\n');
    },
  };
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  const r = Math.round(s % 60);
  return m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}
