/**
 * Undo the Brown corpus tokenisation: `` and '' become double quotes, single quotes (written as a
 * separate ' token both when opening and closing) alternate open/close within a sentence, and
 * punctuation loses the space the corpus put before (or after) it. The corpus' own quirks are
 * repaired: a sentence-final period after an abbreviation ("Jr. .") and inch marks (12'' '').
 */

/** Tokens written without a space before them. */
const CLOSING = new Set([',', '.', ';', ':', '?', '!', ')', ']', "''", '--']);
/** Tokens written without a space after them. */
const OPENING = new Set(['(', '[', '``', '--']);

export function detokenize(words: readonly string[]): string {
  let out = '';
  let glueNext = true; // no space before the first word
  let singleOpen = false;
  for (let i = 0; i < words.length; i++) {
    let w = words[i];
    let closing = CLOSING.has(w);
    let opening = OPENING.has(w);
    if (w.length > 2 && w.endsWith("''")) {
      // Inch marks (12'') are followed by a stray '' token in the corpus.
      w = w.slice(0, -2) + '"';
      if (words[i + 1] === "''") i++;
    } else if (w === '.' && out.endsWith('.')) {
      continue; // "Jr. ." -> "Jr."
    } else if (w === "''") w = '"';
    else if (w === '``') w = '"';
    else if (w === "'") {
      // Alternate: first ' opens a quote, the next closes it; a final unmatched ' closes.
      const last = i === words.length - 1;
      if (!singleOpen && !last) {
        opening = true;
        singleOpen = true;
      } else {
        closing = true;
        singleOpen = false;
      }
    }
    if (!(glueNext || closing)) out += ' ';
    out += w;
    glueNext = opening;
  }
  return out;
}
