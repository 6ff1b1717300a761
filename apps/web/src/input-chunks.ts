// Splits input (a big paste) into messages the host accepts (INPUT_CHUNK_MAX code units), never
// between the two halves of a surrogate pair.

import { INPUT_CHUNK_MAX } from '@reg/protocol';

export function inputChunks(data: string, max = INPUT_CHUNK_MAX): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < data.length) {
    let end = Math.min(i + max, data.length);
    const last = data.charCodeAt(end - 1);
    if (end < data.length && last >= 0xd800 && last <= 0xdbff) end--;
    out.push(data.slice(i, end));
    i = end;
  }
  return out;
}
