import { sleep } from '@temporalio/workflow';

export async function sleeper({ duration }: { duration: string }): Promise<string> {
  await sleep(duration);
  return 'woke up';
}
