import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(__dirname, '..');
const probes: string[] = [];

/** Lints a throw-away file inside the repo, so the project's real config and type information apply. */
async function lintProbe(folder: string, code: string): Promise<string[]> {
  const file = path.join(repoRoot, folder, `__lint_probe_${probes.length}.ts`);
  probes.push(file);
  writeFileSync(file, code);
  const [result] = await new ESLint({ cwd: repoRoot }).lintFiles([file]);
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

afterAll(() => probes.forEach((file) => rmSync(file, { force: true })));

// The first lint builds the type information of the whole project: slow on a loaded 2-core machine.
describe('lint rules the project relies on', { timeout: 180_000 }, () => {
  it('workflow files may not import Node built-ins', async () => {
    const messages = await lintProbe('workflows', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n");
    expect(messages).toContain("no-restricted-imports: 'node:fs' import is restricted from being used. Workflow code may not import Node built-ins.");
  });

  it('workflow files may import only types from activities', async () => {
    const valueImport = await lintProbe('workflows', "import { createActivities } from '../activities';\nexport const x = createActivities;\n");
    expect(valueImport.some((m) => m.startsWith('no-restricted-imports:') && m.includes('import type'))).toBe(true);
    const typeImport = await lintProbe('workflows', "import type { createActivities } from '../activities';\nexport type X = typeof createActivities;\n");
    expect(typeImport).toEqual([]);
  });

  it('dependencies point one way: the consumer never imports the API, the API never imports activities', async () => {
    const consumer = await lintProbe('consumer', "import { buildApp } from '../api/app';\nexport const x = buildApp;\n");
    expect(consumer.some((m) => m.startsWith('no-restricted-imports:') && m.includes('HTTP layer'))).toBe(true);
    const api = await lintProbe('api', "import { createActivities } from '../activities';\nexport const x = createActivities;\n");
    expect(api.some((m) => m.startsWith('no-restricted-imports:') && m.includes('reach into activities'))).toBe(true);
    const billing = await lintProbe('billing', "import { startOrder } from '../intake/start-order';\nexport const x = startOrder;\n");
    expect(billing.some((m) => m.startsWith('no-restricted-imports:') && m.includes('producers'))).toBe(true);
    const allowed = await lintProbe('api', "import { topUp } from '../billing/top-up';\nexport const x = topUp;\n");
    expect(allowed).toEqual([]);
  });

  it('the service never imports its tooling (tools/, test/), which the image leaves out', async () => {
    for (const folder of ['lib', 'consumer', 'workflows']) {
      const messages = await lintProbe(folder, "import { repoRoot } from '../tools/stack/servers';\nexport const x = repoRoot;\n");
      expect(
        messages.some((m) => m.startsWith('no-restricted-imports:') && m.includes('not in the image')),
        folder,
      ).toBe(true);
    }
    const fromTest = await lintProbe('api', "import { startWorker } from '../test/helpers/real-stack';\nexport const x = startWorker;\n");
    expect(fromTest.some((m) => m.includes('not in the image'))).toBe(true);
    // The layer rules still fire where the tooling rule applies too.
    const consumer = await lintProbe('consumer', "import { buildApp } from '../api/app';\nexport const x = buildApp;\n");
    expect(consumer.some((m) => m.includes('HTTP layer'))).toBe(true);
    const tooling = await lintProbe('tools', "import { repoRoot } from './stack/servers';\nexport const x = repoRoot;\n");
    expect(tooling).toEqual([]);
  });

  it('a floating promise is an error', async () => {
    const messages = await lintProbe('activities', 'async function work(): Promise<void> {}\nexport function run(): void {\n  work();\n}\n');
    expect(messages.some((m) => m.startsWith('@typescript-eslint/no-floating-promises:'))).toBe(true);
  });
});
