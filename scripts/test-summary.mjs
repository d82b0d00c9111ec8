#!/usr/bin/env node
/**
 * Sums vitest JSON reports into the one plain line CI reads:
 *   "<passed> passed, <failed> failed, <skipped> skipped"
 *
 * Usage: node scripts/test-summary.mjs [--check <name>=<exit code>] <report.json>[=<runner exit code>] ...
 * (`--check` is a CI step without a report, e.g. the typecheck: non-zero is one failure.)
 *
 * The line can only say "0 failed" (exit 0) when every runner exited 0 and its report
 * shows no error of any kind. Vitest's JSON counts failed assertions only, so each of
 * these also counts as one failure:
 * - a missing or unreadable report (a suite that never ran must not pass);
 * - a file that failed without a failed test: it did not load, or a beforeAll/afterAll
 *   hook threw (the tests under a failed beforeAll are reported as "skipped");
 * - a report that says `success: false` with nothing above to explain it;
 * - a runner that exited non-zero with nothing above to explain it: an unhandled error
 *   or rejection, which vitest reports on the console and in its exit code only.
 * Every such failure is explained on stderr before the summary line.
 */
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
const why = [];

const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  if (arg === '--check') {
    const [name, code] = (args[++i] ?? '').split('=');
    if (Number(code) !== 0) {
      failed++;
      why.push(`${name || 'a check'} exited ${code ?? '(no code given)'}`);
    }
    continue;
  }
  const eq = arg.lastIndexOf('=');
  const file = eq > 0 ? arg.slice(0, eq) : arg;
  const exitCode = eq > 0 ? Number(arg.slice(eq + 1)) : 0;
  let failedHere = 0;
  try {
    const report = JSON.parse(readFileSync(file, 'utf8'));
    passed += report.numPassedTests;
    skipped += report.numPendingTests + (report.numTodoTests ?? 0);
    failedHere += report.numFailedTests;
    for (const suite of report.testResults ?? []) {
      const tests = suite.assertionResults ?? [];
      if (suite.status === 'failed' && !tests.some((t) => t.status === 'failed')) {
        failedHere++;
        const hookSkipped = tests.filter((t) => t.status === 'skipped').length;
        why.push(
          `${file}: ${suite.name} failed outside its tests (${suite.message || 'a beforeAll/afterAll hook threw'})` +
            (hookSkipped ? `; ${hookSkipped} of its tests did not run` : ''),
        );
      }
    }
    if (report.success === false && failedHere === 0) {
      failedHere++;
      why.push(`${file}: vitest reports success: false`);
    }
  } catch (err) {
    failedHere++;
    why.push(`cannot read ${file}: ${err.message}`);
  }
  if (exitCode !== 0 && failedHere === 0) {
    failedHere++;
    why.push(`${file}: the runner exited ${exitCode} with no failed test in its report (an unhandled error? see the log above)`);
  }
  failed += failedHere;
}

for (const line of why) console.error(`test-summary: ${line}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed > 0 ? 1 : 0;
