#!/usr/bin/python3
"""Independent PyTorch reference for LoRA adapters in PEFT's layout.

Run with Debian's python (python3-torch 1.13, no peft, no transformers):

    /usr/bin/python3 scripts/lora_reference.py [OUT_DIR]   # default test/fixtures/lora

For the tiny checkpoints of scripts/torch_reference.py it writes, per model, an adapter folder
as PEFT's save_pretrained lays it out: adapter_config.json (a LoraConfig) and
adapter_model.safetensors with tensors base_model.model.<module path>.lora_A.weight [r, in] and
.lora_B.weight [out, r]. B is random rather than PEFT's zeros, as after training, so that the
adapter changes the outputs. expected.json holds per-token log-probs of base + adapter computed
here in float64: each targeted weight becomes W + s B A (s = alpha / r, or alpha / sqrt(r) with
use_rslora), transposed for GPT-2's Conv1D weights, which are stored [in, out]
(fan_in_fan_out). In exact arithmetic that is the unmerged LoRA forward pass.
"""
import json
import math
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import PAIRS, gpt2_forward, load_safetensors, opt_forward, save_safetensors, token_logprobs  # noqa: E402

# (fixture, forward, prefix of the fixture's names in the HF model, LoRA settings). GPT-2's
# c_proj names both attn.c_proj and mlp.c_proj (PEFT matches the last path components); the
# post-LN OPT uses a regex target (matched against the whole module path) and rsLoRA.
ADAPTERS = {
    'gpt2': (gpt2_forward, 'transformer.', {'r': 4, 'lora_alpha': 8, 'target_modules': ['c_attn', 'c_proj'],
                                            'fan_in_fan_out': True, 'use_rslora': False}),
    'opt': (opt_forward, '', {'r': 4, 'lora_alpha': 16, 'target_modules': ['q_proj', 'v_proj', 'fc2'],
                              'fan_in_fan_out': False, 'use_rslora': False}),
    'opt-postln': (opt_forward, '', {'r': 3, 'lora_alpha': 6, 'target_modules': r'.*\.(k_proj|project_in)',
                                     'fan_in_fan_out': False, 'use_rslora': True}),
}


def targeted(module, targets):
    if isinstance(targets, str):
        return re.fullmatch(targets, module) is not None
    return any(module == t or module.endswith('.' + t) for t in targets)


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, 'test', 'fixtures', 'lora')
    for i, (name, (fwd, prefix, lora)) in enumerate(ADAPTERS.items()):
        base = os.path.join('test', 'fixtures', 'model', name)
        with open(os.path.join(root, base, 'config.json')) as f:
            cfg = json.load(f)
        W = load_safetensors(os.path.join(root, base, 'model.safetensors'))
        g = torch.Generator().manual_seed(200 + i)
        r = lora['r']
        s = lora['lora_alpha'] / (math.sqrt(r) if lora['use_rslora'] else r)
        W64 = {k: v.double() if v.is_floating_point() else v for k, v in W.items()}
        tensors = {}
        for key in W:
            module = prefix + key[:-len('.weight')]
            if not key.endswith('.weight') or W[key].dim() != 2 or not targeted(module, lora['target_modules']):
                continue
            n_in, n_out = W[key].shape if lora['fan_in_fan_out'] else reversed(W[key].shape)
            bound = 1 / math.sqrt(n_in)  # PEFT's kaiming_uniform_(a=sqrt(5)) bound
            A = (torch.rand(r, n_in, generator=g) * 2 - 1) * bound
            B = torch.randn(n_out, r, generator=g) * 0.3
            tensors[f'base_model.model.{module}.lora_A.weight'] = A
            tensors[f'base_model.model.{module}.lora_B.weight'] = B
            delta = s * (B.double() @ A.double())
            W64[key] = W64[key] + (delta.t() if lora['fan_in_fan_out'] else delta)
        if name.startswith('opt'):
            W64['lm_head.weight'] = W64['model.decoder.embed_tokens.weight']
        cases = []
        with torch.no_grad():
            for prompt, response in PAIRS:
                ids = torch.tensor([prompt + response])
                lp = token_logprobs(fwd(W64, cfg, ids)[0], ids[0])[len(prompt) - 1:]
                cases.append({'prompt_ids': prompt, 'response_ids': response, 'token_logprobs': lp.tolist(), 'logprob': lp.sum().item()})
        config = {
            'peft_type': 'LORA', 'task_type': 'CAUSAL_LM', 'base_model_name_or_path': base, 'revision': None,
            'inference_mode': True, 'r': r, 'lora_alpha': lora['lora_alpha'], 'lora_dropout': 0.05,
            'target_modules': lora['target_modules'], 'fan_in_fan_out': lora['fan_in_fan_out'], 'bias': 'none',
            'use_rslora': lora['use_rslora'], 'modules_to_save': None, 'init_lora_weights': True,
            'layers_to_transform': None, 'layers_pattern': None, 'rank_pattern': {}, 'alpha_pattern': {},
        }
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'adapter_config.json'), 'w') as f:
            json.dump(config, f, indent=2)
        save_safetensors(os.path.join(d, 'adapter_model.safetensors'), tensors, {'format': 'pt'})
        with open(os.path.join(d, 'expected.json'), 'w') as f:
            json.dump({'scaling': s, 'cases': cases}, f)
        print(f'{name}: {len(tensors) // 2} adapted weights -> {os.path.relpath(d, root)}')


if __name__ == '__main__':
    main()
