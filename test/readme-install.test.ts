/**
 * README's install advice against the dependency tree (issue 26, item 19): the
 * `allowScripts` entries it tells users to set cover exactly the install scripts that
 * `npm install skulens` meets (the lockfile's non-dev packages with one), allowing only
 * hnswlib-node; and the locked-down network note comes before the first `npm install`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/shared.js';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }>;
};
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { allowScripts: Record<string, boolean> };

/** The `allowScripts.<name>=<bool>` settings of README's `npm pkg set` command. */
function readmeAllowScripts(): Record<string, boolean> {
  const command = /npm pkg set --json ((?:\\\n|[^\n])+)/.exec(readme)?.[1] ?? '';
  return Object.fromEntries([...command.matchAll(/allowScripts\.([\w@/.-]+)=(true|false)/g)].map((m) => [m[1]!, m[2] === 'true']));
}

describe('README install section', () => {
  it('sets allowScripts for every install script a user install runs, allowing only hnswlib-node', () => {
    const withScripts = new Set(
      Object.entries(lock.packages)
        .filter(([path, p]) => path !== '' && p.hasInstallScript && !p.dev)
        .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)),
    );
    const advice = readmeAllowScripts();
    expect(Object.keys(advice).sort()).toEqual([...withScripts].sort());
    expect(Object.entries(advice).filter(([, allowed]) => allowed)).toEqual([['hnswlib-node', true]]);
    // The project installs the same way (its own allowScripts may add dev tools such as esbuild).
    for (const [name, allowed] of Object.entries(advice)) expect(pkg.allowScripts[name], name).toBe(allowed);
  });

  it('says how to skip onnxruntime-node on a locked-down network before the first npm install command', () => {
    const install = readme.indexOf('## Install');
    const firstInstall = readme.indexOf('npm install skulens', install);
    const npmrc = readme.indexOf('onnxruntime-node-install=skip', install);
    expect(npmrc).toBeGreaterThan(install);
    expect(firstInstall).toBeGreaterThan(npmrc);
    expect(readme.slice(install, firstInstall)).not.toMatch(/^npm (i|install|ci)\b/m);
  });
});
