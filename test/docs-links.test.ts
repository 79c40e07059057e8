import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../tools/stack/servers';

const pages = [
  'README.md',
  ...readdirSync(path.join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Lines outside fenced code blocks. */
function prose(text: string): string[] {
  let fenced = false;
  return text.split('\n').filter((line) => {
    if (line.startsWith('```')) fenced = !fenced;
    return !fenced && !line.startsWith('```');
  });
}

/** The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as dashes, repeats numbered. */
export function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of prose(text)) {
    const heading = /^#{1,6} (.*)$/.exec(line);
    if (!heading) continue;
    const slug = heading[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}_\- ]/gu, '')
      .replaceAll(' ', '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

const anchorsByFile = new Map<string, Set<string>>();
/** Each linked page is read and parsed once, however many links point into it. */
function anchorsIn(file: string): Set<string> {
  let anchors = anchorsByFile.get(file);
  if (!anchors) anchorsByFile.set(file, (anchors = anchorsOf(readFileSync(file, 'utf8'))));
  return anchors;
}

describe('the relative links of the README and docs/', () => {
  it('a heading with code and punctuation gets the anchor GitHub gives it', () => {
    expect([...anchorsOf('## Measured figures: `npm run bench`\n### Node support\n## Node support')]).toEqual([
      'measured-figures-npm-run-bench',
      'node-support',
      'node-support-1',
    ]);
  });

  it.each(pages)('%s: every file it links exists, and every anchor is a heading there', (page) => {
    const text = readFileSync(path.join(repoRoot, page), 'utf8');
    const broken: string[] = [];
    for (const line of prose(text)) {
      for (const [, target] of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [file, anchor] = target!.split('#') as [string, string | undefined];
        const resolved = file === '' ? path.join(repoRoot, page) : path.resolve(path.dirname(path.join(repoRoot, page)), file);
        if (!existsSync(resolved)) broken.push(`${target}: no such file`);
        else if (anchor !== undefined && resolved.endsWith('.md') && !anchorsIn(resolved).has(anchor)) broken.push(`${target}: no such heading`);
      }
    }
    expect(broken).toEqual([]);
  });
});
