/**
 * The CLI's progress bar on a terminal (issue 26, item 8): a line written to stdout or
 * stderr while the bar is shown must not start after the bar's text. Fake TTY streams
 * record the exact sequence of writes.
 */
import { describe, expect, it } from 'vitest';
import { CLEAR_LINE, createProgress } from '../src/cli/progress.js';

function recorder() {
  const log: string[] = [];
  const stream = (name: string, isTTY: boolean, columns = 100) => ({
    isTTY,
    columns,
    write(text: string | Uint8Array): boolean {
      log.push(`${name}:${typeof text === 'string' ? text : Buffer.from(text).toString()}`);
      return true;
    },
  });
  return { log, stream };
}

/** One drawing of the bar, less the clear that starts a fresh draw. */
const BAR = /^err:embedding [█░]{24} \d+\/3 [\d.]+\/s ETA \S+$/;
const bar = (l: string | undefined) => (l ?? '').replace(CLEAR_LINE, '');

describe('progress bar on a terminal', () => {
  it('clears its line before a stdout or stderr line and redraws itself after', () => {
    const { log, stream } = recorder();
    const err = stream('err', true);
    const out = stream('out', true);
    const p = createProgress('embedding', 3, err as never, [out as never]);
    p.update(1);
    out.write('a.jpg\tOrange\n');
    err.write('skulens: skipped b.jpg: truncated\n');
    p.done();
    out.write('after\n');

    expect(bar(log[0])).toMatch(BAR);
    expect(log[0]!.startsWith(`err:${CLEAR_LINE}`)).toBe(true);
    expect(log.slice(1, 4)).toEqual([`err:${CLEAR_LINE}`, 'out:a.jpg\tOrange\n', log[3]]);
    expect(bar(log[3])).toMatch(BAR);
    expect(log[3]).toContain(' 1/3 ');
    expect(log.slice(4, 7)).toEqual([`err:${CLEAR_LINE}`, 'err:skulens: skipped b.jpg: truncated\n', log[6]]);
    expect(bar(log[6])).toMatch(BAR);
    expect(bar(log[7])).toMatch(BAR);
    expect(log[7]).toContain(' 3/3 ');
    // After done() the streams are the user's again: no clear, no redraw.
    expect(log.slice(8)).toEqual(['err:\n', 'out:after\n']);
    // No line of output ever follows the bar's text on the same terminal line.
    const screen = log.map((l) => l.slice(4)).join('');
    expect(screen).not.toMatch(/ETA \S+(a\.jpg|skulens:|after)/);
  });

  it('leaves a stdout that is not a terminal alone (piped output gets no escapes)', () => {
    const { log, stream } = recorder();
    const out = stream('out', false);
    const p = createProgress('embedding', 3, stream('err', true) as never, [out as never]);
    p.update(2);
    out.write('a.jpg\n');
    p.done();
    expect(log.filter((l) => l.startsWith('out:'))).toEqual(['out:a.jpg\n']);
    expect(log.filter((l) => l === `err:${CLEAR_LINE}`)).toEqual([]);
  });

  it('fits the bar in the terminal width (a wrapped bar cannot be redrawn in place)', () => {
    const { log, stream } = recorder();
    const p = createProgress('embedding references (+4 views each)', 3, stream('err', true, 40) as never, []);
    p.update(1);
    p.done();
    for (const l of log.filter((x) => x !== 'err:\n')) expect(l.slice(4 + CLEAR_LINE.length).length).toBe(39);
  });

  it('draws nothing and hooks nothing when stderr is not a terminal', () => {
    const { log, stream } = recorder();
    const err = stream('err', false);
    const out = stream('out', true);
    const write = out.write;
    const p = createProgress('embedding', 3, err as never, [out as never]);
    p.update(1);
    out.write('a.jpg\n');
    p.done();
    expect(log).toEqual(['out:a.jpg\n']);
    expect(out.write).toBe(write);
  });
});
