/**
 * A model's chat template (the Jinja `chat_template` of its tokenizer_config.json, or a
 * chat_template.jinja beside it) rendered with @huggingface/jinja, so that a task's prompt
 * reaches an instruct model wrapped as it was trained: one user turn, then the assistant's header
 * (`add_generation_prompt`). The rendered text carries its own special tokens (`<|im_start|>`,
 * the BOS where the template writes `bos_token`) and is encoded without the tokenizer's, as
 * Hugging Face's apply_chat_template does.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Template } from '@huggingface/jinja';
import type { Tokenizer } from './tokenizer.js';

export interface ChatMessage {
  role: string;
  content: string;
}

export class ChatTemplateError extends Error {
  override name = 'ChatTemplateError';
}

async function readIfPresent(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ChatTemplateError(`${path}: ${(err as Error).message}`);
  }
}

export class ChatTemplate {
  private constructor(
    private readonly template: Template,
    /** the file the template came from, for messages */
    readonly source: string,
    private readonly tokenizer: Tokenizer,
  ) {}

  /**
   * The template of `tokenizer`'s folder: chat_template.jinja when present (where recent
   * versions of transformers save it), else tokenizer_config.json's chat_template (its 'default'
   * when it holds several by name).
   */
  static async of(tokenizer: Tokenizer): Promise<ChatTemplate> {
    const configPath = tokenizer.configPath;
    const jinjaPath = join(dirname(configPath), 'chat_template.jinja');
    const fromFile = await readIfPresent(jinjaPath);
    if (fromFile !== null) return ChatTemplate.parse(fromFile, jinjaPath, tokenizer);
    const config = tokenizer.config;
    if (config === null) {
      throw new ChatTemplateError(
        `${configPath} not found: a model's chat template is in its tokenizer_config.json (or ${jinjaPath}); without one there is no template to apply`,
      );
    }
    const t = config.chat_template;
    if (t === undefined) {
      throw new ChatTemplateError(`${configPath} has no chat_template (nor is there a ${jinjaPath}): a base model, whose prompts go in as plain text; drop the chat template option`);
    }
    if (typeof t === 'string') return ChatTemplate.parse(t, configPath, tokenizer);
    const named = t.find((x) => x.name === 'default');
    if (!named) throw new ChatTemplateError(`${configPath}: chat_template holds templates named ${t.map((x) => `'${x.name}'`).join(', ')} but none named 'default'`);
    return ChatTemplate.parse(named.template, `${configPath} (chat_template 'default')`, tokenizer);
  }

  private static parse(text: string, source: string, tokenizer: Tokenizer): ChatTemplate {
    try {
      return new ChatTemplate(new Template(text), source, tokenizer);
    } catch (err) {
      throw new ChatTemplateError(`chat template of ${source} cannot be parsed: ${(err as Error).message}`);
    }
  }

  /**
   * The conversation as text. Variables as Hugging Face passes them: messages,
   * add_generation_prompt, and the special tokens of tokenizer_config.json (bos_token,
   * eos_token). raise_exception and strftime_now are the engine's (as in transformers, a template
   * that dates its system prompt gets today's date); a raised message is reported with the file.
   */
  render(messages: ChatMessage[], opts: { addGenerationPrompt: boolean }): string {
    const c = this.tokenizer.config;
    const vars: Record<string, unknown> = {
      messages,
      add_generation_prompt: opts.addGenerationPrompt,
      ...(typeof c?.bos_token === 'string' && { bos_token: c.bos_token }),
      ...(typeof c?.eos_token === 'string' && { eos_token: c.eos_token }),
    };
    try {
      return this.template.render(vars);
    } catch (err) {
      throw new ChatTemplateError(`chat template of ${this.source} failed: ${(err as Error).message}`);
    }
  }

  /** A task's prompt as the one user turn, ready for the assistant's answer. */
  wrapPrompt(prompt: string): string {
    return this.render([{ role: 'user', content: prompt }], { addGenerationPrompt: true });
  }

  /** Token ids of the wrapped prompt: the template's special tokens only (it writes the BOS when the model wants one). */
  encodePrompt(prompt: string): number[] {
    return this.tokenizer.encode(this.wrapPrompt(prompt));
  }
}
