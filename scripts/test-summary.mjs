#!/usr/bin/env node
/**
 * Sums vitest JSON reports into the one plain line CI reads:
 *   "<passed> passed, <failed> failed, <skipped> skipped"
 * A missing or unreadable report counts as one failure (a suite that never ran must not pass).
 */
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of process.argv.slice(2)) {
  try {
    const report = JSON.parse(readFileSync(file, 'utf8'));
    passed += report.numPassedTests;
    failed += report.numFailedTests;
    skipped += report.numPendingTests + (report.numTodoTests ?? 0);
    // Suites that failed to load report no tests: count them as failures.
    for (const suite of report.testResults ?? []) {
      if (suite.status === 'failed' && (suite.assertionResults ?? []).length === 0) failed++;
    }
  } catch (err) {
    console.error(`test-summary: cannot read ${file}: ${err.message}`);
    failed++;
  }
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed > 0 ? 1 : 0;
