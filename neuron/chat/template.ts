/**
 * Renders chat prompts with the model's own `tokenizer.chat_template`
 * (Jinja, through @huggingface/jinja), the way transformers' apply_chat_template
 * does: messages, tools, add_generation_prompt, bos/eos tokens and any
 * `chat_template_kwargs` (e.g. `enable_thinking`).
 */

import { Template } from "@huggingface/jinja";

/** Used when a GGUF carries no template: plain ChatML, the most common format. */
export const FALLBACK_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface TemplateMessage {
  role: string;
  content: string | null;
  reasoning_content?: string;
  tool_calls?: { id: string; type: "function"; function: { name: string; arguments: unknown } }[];
  tool_call_id?: string;
  name?: string;
}

export interface RenderInput {
  messages: TemplateMessage[];
  /** OpenAI-shaped tool definitions (`{type: "function", function: {...}}`). */
  tools?: unknown[];
  addGenerationPrompt?: boolean;
  kwargs?: Record<string, unknown>;
}

export class TemplateError extends Error {
  override name = "TemplateError";
}

export class ChatTemplate {
  readonly source: string;
  readonly isFallback: boolean;
  #template: Template;
  #bos: string;
  #eos: string;

  constructor(source: string | null, tokens: { bos: string; eos: string }) {
    this.isFallback = !source;
    this.source = source || FALLBACK_TEMPLATE;
    try {
      this.#template = new Template(this.source);
    } catch (e) {
      throw new TemplateError(`the model's chat template does not parse: ${(e as Error).message}`);
    }
    this.#bos = tokens.bos;
    this.#eos = tokens.eos;
  }

  render(input: RenderInput): string {
    try {
      return this.#template.render({
        ...input.kwargs,
        messages: input.messages,
        tools: input.tools?.length ? input.tools : undefined,
        add_generation_prompt: input.addGenerationPrompt ?? true,
        bos_token: this.#bos,
        eos_token: this.#eos,
      });
    } catch (e) {
      // Templates raise_exception on inputs they cannot express (e.g. roles out of order).
      throw new TemplateError(`the chat template rejected these messages: ${(e as Error).message}`);
    }
  }

  /** Whether the template can render tools (it references the `tools` variable). */
  get supportsTools(): boolean {
    return /\btools\b/.test(this.source);
  }
}
