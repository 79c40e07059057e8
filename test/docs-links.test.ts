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

/**
 * Whether a link from `page` (a path from the repository root) climbs above the root at any point. Outside the root
 * only this machine's files are found, and a link that comes back in names the checkout's own folder, which a clone
 * elsewhere names differently.
 */
function leavesRepository(page: string, file: string): boolean {
  let depth = page.split('/').length - 1;
  for (const part of file.split('/')) {
    if (part === '..') depth -= 1;
    else if (part !== '.' && part !== '') depth += 1;
    if (depth < 0) return true;
  }
  return false;
}

/** What is wrong with each link of a page that is not to a web address: outside the repository, no such file, or no such heading. */
export function brokenLinks(page: string, text: string): string[] {
  const broken: string[] = [];
  for (const line of prose(text)) {
    const targets = [...line.matchAll(/\]\(([^)\s]+)\)/g), ...line.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/g)].map((m) => m[1]!);
    for (const target of targets) {
      if (target.startsWith('file:')) {
        broken.push(`${target}: a file on one machine, outside the repository; link the copy inside it`);
        continue;
      }
      if (/^[a-z]+:/.test(target)) continue;
      const [file, anchor] = target.split('#') as [string, string | undefined];
      if (path.isAbsolute(file)) {
        broken.push(`${target}: an absolute path, outside the repository; link a path relative to ${page}`);
        continue;
      }
      if (leavesRepository(page, file)) {
        broken.push(`${target}: leaves the repository (a clone elsewhere has no such file, whatever this machine has); link the copy inside it`);
        continue;
      }
      const resolved = file === '' ? path.join(repoRoot, page) : path.resolve(path.dirname(path.join(repoRoot, page)), file);
      if (!existsSync(resolved)) broken.push(`${target}: no such file`);
      else if (anchor !== undefined && resolved.endsWith('.md') && !anchorsIn(resolved).has(anchor)) broken.push(`${target}: no such heading`);
    }
  }
  return broken;
}

describe('the relative links of the README and docs/', () => {
  it('a heading with code and punctuation gets the anchor GitHub gives it', () => {
    expect([...anchorsOf('## Measured figures: `npm run bench`\n### Node support\n## Node support')]).toEqual([
      'measured-figures-npm-run-bench',
      'node-support',
      'node-support-1',
    ]);
  });

  it('a link out of the repository is refused, even to a file this machine has', () => {
    const readme = path.join(repoRoot, 'README.md');
    const viaParent = `../../${path.basename(repoRoot)}/README.md`;
    const text = [
      '[catalogue](../../shared/RELIABILITY.md) [back in](' + viaParent + ') [absolute](' + readme + ') [url](file://' + readme + ')',
      '[ref]: ../../README.md',
      '[in](../README.md) [here](#the-invariants) [web](https://example.com/x)',
      '```',
      '[fenced](../../outside.md)',
      '```',
    ].join('\n');
    expect(existsSync(path.resolve(repoRoot, 'docs', viaParent))).toBe(true);
    expect(brokenLinks('docs/reliability.md', text)).toEqual([
      '../../shared/RELIABILITY.md: leaves the repository (a clone elsewhere has no such file, whatever this machine has); link the copy inside it',
      `${viaParent}: leaves the repository (a clone elsewhere has no such file, whatever this machine has); link the copy inside it`,
      `${readme}: an absolute path, outside the repository; link a path relative to docs/reliability.md`,
      `file://${readme}: a file on one machine, outside the repository; link the copy inside it`,
      '../../README.md: leaves the repository (a clone elsewhere has no such file, whatever this machine has); link the copy inside it',
    ]);
  });

  it.each(pages)('%s: every link stays inside the repository, every file it links exists, and every anchor is a heading there', (page) => {
    expect(brokenLinks(page, readFileSync(path.join(repoRoot, page), 'utf8'))).toEqual([]);
  });
});
