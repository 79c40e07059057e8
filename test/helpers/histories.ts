import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON, historyToJSON, type History } from '@temporalio/common/lib/proto-utils';

export const historiesDir = path.resolve(__dirname, '..', 'fixtures', 'histories');
/** The refund saga's: a saga of its own, kept apart from the order saga's shapes. */
export const refundHistoriesDir = path.resolve(__dirname, '..', 'fixtures', 'refund-histories');

/** `RECORD_HISTORIES=1 npm test -- test/saga.test.ts` refreshes the replay fixtures from real runs. */
export function recordHistory(name: string, history: History, dir = historiesDir): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), historyToJSON(history));
}

export function loadHistories(dir = historiesDir): { workflowId: string; history: History }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: historyFromJSON(JSON.parse(readFileSync(path.join(dir, f), 'utf8'))) }));
}
