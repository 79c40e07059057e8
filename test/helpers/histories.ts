import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON, historyToJSON, type History } from '@temporalio/common/lib/proto-utils';

export const historiesDir = path.resolve(__dirname, '..', 'fixtures', 'histories');

/** `RECORD_HISTORIES=1 npm test -- test/saga.test.ts` refreshes the replay fixtures from real runs. */
export function recordHistory(name: string, history: History): void {
  mkdirSync(historiesDir, { recursive: true });
  writeFileSync(path.join(historiesDir, `${name}.json`), historyToJSON(history));
}

export function loadHistories(): { workflowId: string; history: History }[] {
  return readdirSync(historiesDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: historyFromJSON(JSON.parse(readFileSync(path.join(historiesDir, f), 'utf8'))) }));
}
