/**
 * Reads the judge's ratings of Text 1..n out of a free-form answer. Accepts the rubric's own
 * "#### Output for Text 1 / Rating: 4" layout, markdown decorations ("**Rating:** 4", "4/5"),
 * JSON (fenced or bare), and a bare sequence of exactly n "Rating: k" lines. Returns undefined
 * when the answer does not give exactly one rating in [min, max] per text: the caller retries
 * or fails; it never guesses.
 */

export interface RatingScale {
  min: number;
  max: number;
}

const UF_SCALE: RatingScale = { min: 1, max: 5 };

// "Rating: 4", "**Rating:** 4", "Rating for text 1: **4**", "rating of 4/5", but not across lines.
// A range such as "3-4" is ambiguous and not read as a rating. Non-global: no shared lastIndex state.
const RATING = /\brating(?:\s+for\s+(?:text|response)\s*\d+)?\b[^0-9\n]{0,20}?(\d+(?:\.\d+)?)(?!\d|\.\d|[ \t]*[-–][ \t]*\d)/i;
// A section header for text i at the start of a line: "#### Output for Text 1", "**Text 2**:", "Response 1 -".
const HEADER = /^[ \t>#*_-]*(?:output\s+for\s+|feedback\s+for\s+|annotation\s+for\s+)?(?:text|response)\s*(\d+)\b/gim;
// A rating on the header line itself without the word "rating": "Text 1: 4", "**Text 2** - 3/5".
const HEADER_VALUE = /^[^\n]*?(?:text|response)\s*\d+\**\s*[:\-–]\s*\**(\d+(?:\.\d+)?)(?!\d|\.\d|[ \t]*[-–][ \t]*\d)/i;

function inScale(x: number, scale: RatingScale): boolean {
  return Number.isFinite(x) && x >= scale.min && x <= scale.max;
}

function valid(values: number[], count: number, scale: RatingScale): number[] | undefined {
  return values.length === count && values.every((v) => inScale(v, scale)) ? values : undefined;
}

function ratingOf(x: unknown): number | undefined {
  if (typeof x === 'number') return x;
  if (typeof x === 'string' && /^\s*\d+(\.\d+)?\s*(\/\s*\d+)?\s*$/.test(x)) return parseFloat(x);
  if (x && typeof x === 'object') {
    for (const [k, v] of Object.entries(x)) if (/^(rating|score)$/i.test(k)) return ratingOf(v);
  }
  return undefined;
}

function fromJsonValue(v: unknown, count: number, scale: RatingScale): number[] | undefined {
  if (Array.isArray(v)) {
    const r = v.map(ratingOf);
    return r.every((x) => x !== undefined) ? valid(r as number[], count, scale) : undefined;
  }
  if (!v || typeof v !== 'object') return undefined;
  const entries = Object.entries(v);
  for (const [k, inner] of entries) {
    if (/^(ratings|scores|texts|outputs|results)$/i.test(k)) {
      const r = fromJsonValue(inner, count, scale);
      if (r) return r;
    }
  }
  // Keys naming the text: {"text_1": 4, "Text 2": {"rating": 3}} or {"1": 4, "2": 3}.
  const byIndex = new Map<number, number>();
  for (const [k, inner] of entries) {
    const m = /^(?:text|response|output)?[\s_-]*(\d+)$/i.exec(k.trim());
    const r = ratingOf(inner);
    if (m && r !== undefined) byIndex.set(Number(m[1]), r);
  }
  const r = Array.from({ length: count }, (_, i) => byIndex.get(i + 1));
  return r.every((x) => x !== undefined) && byIndex.size === count ? valid(r as number[], count, scale) : undefined;
}

function fromJson(answer: string, count: number, scale: RatingScale): number[] | undefined {
  const candidates: string[] = [];
  for (const m of answer.matchAll(/```(?:json)?\s*\n?([\s\S]*?)```/gi)) candidates.push(m[1]);
  for (const [open, close] of [['{', '}'], ['[', ']']]) {
    const i = answer.indexOf(open);
    const j = answer.lastIndexOf(close);
    if (i >= 0 && j > i) candidates.push(answer.slice(i, j + 1));
  }
  for (const c of candidates) {
    try {
      const r = fromJsonValue(JSON.parse(c), count, scale);
      if (r) return r;
    } catch {
      // Not JSON: the text formats below may still apply.
    }
  }
  return undefined;
}

function firstRating(section: string): number | undefined {
  const m = RATING.exec(section);
  if (m) return parseFloat(m[1]);
  const h = HEADER_VALUE.exec(section.split('\n', 1)[0]);
  return h ? parseFloat(h[1]) : undefined;
}

function fromSections(answer: string, count: number, scale: RatingScale): number[] | undefined {
  const headers = [...answer.matchAll(HEADER)].map((m) => ({ index: Number(m[1]), at: m.index! }));
  if (headers.length === 0) return undefined;
  const ratings: number[] = [];
  for (let i = 1; i <= count; i++) {
    // The first header for text i starts its section; the next header for another text ends it.
    const h = headers.findIndex((x) => x.index === i);
    if (h < 0) return undefined;
    const end = headers.slice(h + 1).find((x) => x.index !== i)?.at ?? answer.length;
    const r = firstRating(answer.slice(headers[h].at, end));
    if (r === undefined) return undefined;
    ratings.push(r);
  }
  return valid(ratings, count, scale);
}

function fromSequence(answer: string, count: number, scale: RatingScale): number[] | undefined {
  const all = [...answer.matchAll(new RegExp(RATING.source, 'gi'))].map((m) => parseFloat(m[1]));
  return valid(all, count, scale);
}

export function parseRatings(answer: string, count = 2, scale: RatingScale = UF_SCALE): number[] | undefined {
  return fromJson(answer, count, scale) ?? fromSections(answer, count, scale) ?? fromSequence(answer, count, scale);
}
