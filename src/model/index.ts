// The model API: GPT-2, OPT, Llama/Mistral/Qwen2 and GPT-NeoX decoders from Hugging Face configs
// and safetensors checkpoints, and LoRA adapters in PEFT's layout.
export { parseConfig, readConfig, configToJson, vocabularyError, type ModelConfig, type Gpt2Config, type OptConfig } from './config.js';
export type { CausalLM, ForwardOutput, ForwardOptions, KVCache } from './decoder.js';
export { createModel, modelFromTensors, type ConfigLike } from './create.js';
export { loadModel, saveModel, WEIGHT_DTYPES, type LoadedModel, type WeightDtype } from './checkpoint.js';
export { checkSafetensorsFile, readSafetensors, readSafetensorsFile, writeSafetensors } from './safetensors.js';
export { Tokenizer } from './tokenizer.js';
export { ChatTemplate, ChatTemplateError, type ChatMessage } from './chat-template.js';
export { responseLogprobs, type PairBatch, type ResponseLogprobs } from './logprobs.js';
export { sample, type SampleOptions } from './sample.js';
export { attachNewAdapter, LoraAdapter, type LoraSpec, type Projection } from './lora.js';
export { loadAdapter, loadLmAdapter, restoreAdapter, saveAdapter, ADAPTER_CONFIG, ADAPTER_WEIGHTS, type TaskType } from './peft.js';
export { mergeAdapter } from './merge.js';
