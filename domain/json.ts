/**
 * The first key that appears twice in one object of `text`, a document JSON.parse already accepted.
 * JSON.parse keeps the last copy silently; a proxy or another reader may keep the first, so such a
 * document means two things at once and is refused.
 */
export function duplicateKey(text: string): string | undefined {
  const objects: (Set<string> | null)[] = []; // null marks an array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') {
      objects.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      objects.push(null);
    } else if (c === '}' || c === ']') {
      objects.pop();
    } else if (c === ',') {
      expectKey = objects.at(-1) instanceof Set;
    } else if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        const keys = objects.at(-1)!;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = end;
    }
  }
  return undefined;
}
