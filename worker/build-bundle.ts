import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '@temporalio/common';
import { bundleWorkflowCode } from '@temporalio/worker';
import { runCommand, UsageError } from '../lib/cli';
import { workflowInterceptorModules } from '../tracing';
import { workflowsPath } from './create-worker';

export const defaultBundlePath = path.resolve(__dirname, '..', 'dist', 'workflow-bundle.js');

/**
 * The workflow code every worker runs: written once by `npm run build:workflows`, or bundled at a worker's
 * start, where `logger` keeps webpack's report in the worker's JSON lines.
 */
export async function bundleWorkflows(logger?: Logger): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, ...(logger ? { logger } : {}) });
  return code;
}

/** Writes the workflow bundle a production worker loads with WORKFLOW_BUNDLE, instead of bundling at start. */
export async function buildWorkflowBundle(out = defaultBundlePath): Promise<string> {
  const code = await bundleWorkflows();
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, code);
  return out;
}

const usage = 'usage: npm run build:workflows [-- <output file>]   (default dist/workflow-bundle.js)';

if (require.main === module) {
  runCommand(async (args) => {
    if (args.length > 1 || args[0]?.startsWith('-')) throw new UsageError('expected at most one argument, the output file');
    const out = await buildWorkflowBundle(args[0] ? path.resolve(args[0]) : undefined);
    process.stdout.write(`workflow bundle written: ${out}\n`);
    return 0;
  }, usage);
}
