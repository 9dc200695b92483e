/**
 * The fields of a Hugging Face tokenizer_config.json that decide how prompts are encoded: BOS and
 * EOS, whether the tokenizer adds a BOS of its own, and the chat template. Validated here, at the
 * boundary, so that a wrong type is an error naming the file and the field, never a silent
 * default; every other field is kept as it is.
 */
import { z } from 'zod';

/** A special token as written: its text, or an AddedToken object with `content`; null = none. */
const specialToken = z.union([z.string(), z.looseObject({ content: z.string() }).transform((t) => t.content), z.null()]);

const namedTemplate = z.looseObject({ name: z.string(), template: z.string() });

export const tokenizerConfigSchema = z.looseObject({
  bos_token: specialToken.optional(),
  eos_token: specialToken.optional(),
  add_bos_token: z.boolean().optional(),
  /** one template, or several by name ('default', 'tool_use', ...) */
  chat_template: z.union([z.string(), z.array(namedTemplate)]).optional(),
});

export type TokenizerConfig = z.infer<typeof tokenizerConfigSchema>;

export class TokenizerConfigError extends Error {
  override name = 'TokenizerConfigError';
}

/** The config, or an error naming `file` and the first field that is wrong. */
export function parseTokenizerConfig(json: unknown, file: string): TokenizerConfig {
  const r = tokenizerConfigSchema.safeParse(json);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue.path.map(String).join('.');
  throw new TokenizerConfigError(`${file}: ${field ? `field '${field}': ` : ''}${issue.message}`);
}
