#!/usr/bin/python3
"""Independent PyTorch reference for the TypeScript Llama, Mistral, Qwen2 and GPT-NeoX decoders.

Run with Debian's python (python3-torch 1.13, no transformers):

    /usr/bin/python3 scripts/torch_reference_rope.py [OUT_DIR]   # default test/fixtures/model

It writes tiny random checkpoints laid out as the Hugging Face Hub publishes them (config.json
with transformers' field names, safetensors with its tensor names, the buffers old checkpoints
carry, the GPT-2 fixture's tokenizer.json), and `expected.json` as scripts/torch_reference.py
does: float64 per-token log-probs and gradients, computed here from the weights as stored (a BF16
or F16 file is rounded before the reference sees it). The maths is written out below from the
papers and transformers' modeling code, not imported.

- llama: grouped-query attention (4 query heads, 2 key/value heads), head_dim 8 (not
  hidden_size / heads), untied head, RoPE inv_freq buffers, sharded in two files with
  model.safetensors.index.json
- qwen2: q/k/v biases, one key/value head, tied head stored without lm_head.weight
- mistral: stored in BF16, sliding_window 32 (the context used)
- gpt_neox: stored in F16, rotary_pct 0.25, parallel residual, exact GELU, causal-mask buffers
"""
import json
import math
import os
import shutil
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import expected_for, rnd, save_safetensors  # noqa: E402


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope(x, dims, theta):
    """x [B, H, T, hd] at positions 0..T-1: the first `dims` features rotated, feature i paired with i + dims/2."""
    T = x.shape[2]
    inv_freq = 1.0 / theta ** (torch.arange(0, dims, 2, dtype=torch.float64) / dims)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    ang = torch.cat([ang, ang], -1)
    r, rest = x[..., :dims], x[..., dims:]
    half = dims // 2
    rotated = torch.cat([-r[..., half:], r[..., :half]], -1)
    return torch.cat([r * ang.cos() + rotated * ang.sin(), rest], -1)


def attention(q, k, v):
    """Causal softmax attention; q [B, H, T, hd], k and v [B, KV, T, hd] with H a multiple of KV."""
    B, H, T, hd = q.shape
    rep = H // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)  # query head h reads key/value head h // rep
    v = v.repeat_interleave(rep, dim=1)
    att = q @ k.transpose(-1, -2) / math.sqrt(hd)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    y = att.masked_fill(~causal, float('-inf')).softmax(-1) @ v
    return y.transpose(1, 2).reshape(B, T, H * hd)


def linear(W, h, n):
    y = h @ W[n + '.weight'].t()
    return y + W[n + '.bias'] if n + '.bias' in W else y


def llama_forward(W, cfg, ids):
    """LlamaForCausalLM (and Mistral, Qwen2): pre-RMSNorm, RoPE, grouped-query attention, SwiGLU."""
    B, T = ids.shape
    D, H = cfg['hidden_size'], cfg['num_attention_heads']
    KV = cfg.get('num_key_value_heads') or H
    hd = cfg.get('head_dim') or D // H
    eps, theta = cfg['rms_norm_eps'], cfg['rope_theta']
    x = W['model.embed_tokens.weight'][ids]
    for i in range(cfg['num_hidden_layers']):
        L = f'model.layers.{i}.'
        h = rms_norm(x, W[L + 'input_layernorm.weight'], eps)
        q = linear(W, h, L + 'self_attn.q_proj').view(B, T, H, hd).transpose(1, 2)
        k = linear(W, h, L + 'self_attn.k_proj').view(B, T, KV, hd).transpose(1, 2)
        v = linear(W, h, L + 'self_attn.v_proj').view(B, T, KV, hd).transpose(1, 2)
        x = x + linear(W, attention(rope(q, hd, theta), rope(k, hd, theta), v), L + 'self_attn.o_proj')
        h = rms_norm(x, W[L + 'post_attention_layernorm.weight'], eps)
        x = x + linear(W, F.silu(linear(W, h, L + 'mlp.gate_proj')) * linear(W, h, L + 'mlp.up_proj'), L + 'mlp.down_proj')
    x = rms_norm(x, W['model.norm.weight'], eps)
    head = W['model.embed_tokens.weight'] if cfg['tie_word_embeddings'] else W['lm_head.weight']
    return x @ head.t()


def gpt_neox_forward(W, cfg, ids):
    """GPTNeoXForCausalLM: fused per-head qkv, partial RoPE, LayerNorm, parallel or sequential residual."""
    B, T = ids.shape
    D, H = cfg['hidden_size'], cfg['num_attention_heads']
    hd = D // H
    dims = int(hd * cfg['rotary_pct'])
    base = cfg['rotary_emb_base']
    ln = lambda h, n: F.layer_norm(h, (D,), W[n + '.weight'], W[n + '.bias'], cfg['layer_norm_eps'])
    mlp = lambda h, L: linear(W, F.gelu(linear(W, h, L + 'mlp.dense_h_to_4h')), L + 'mlp.dense_4h_to_h')
    x = W['gpt_neox.embed_in.weight'][ids]
    for i in range(cfg['num_hidden_layers']):
        L = f'gpt_neox.layers.{i}.'
        qkv = linear(W, ln(x, L + 'input_layernorm'), L + 'attention.query_key_value').view(B, T, H, 3 * hd).transpose(1, 2)
        q, k, v = qkv[..., :hd], qkv[..., hd:2 * hd], qkv[..., 2 * hd:]
        a = linear(W, attention(rope(q, dims, base), rope(k, dims, base), v), L + 'attention.dense')
        if cfg['use_parallel_residual']:
            x = x + a + mlp(ln(x, L + 'post_attention_layernorm'), L)
        else:
            x = x + a
            x = x + mlp(ln(x, L + 'post_attention_layernorm'), L)
    x = ln(x, 'gpt_neox.final_layer_norm')
    return x @ W['embed_out.weight'].t()


def make_llama(g, cfg):
    D, V, I = cfg['hidden_size'], cfg['vocab_size'], cfg['intermediate_size']
    H = cfg['num_attention_heads']
    KV = cfg.get('num_key_value_heads') or H
    hd = cfg.get('head_dim') or D // H
    qkv_bias = cfg['model_type'] == 'qwen2' or cfg.get('attention_bias', False)
    o_bias = cfg['model_type'] == 'llama' and cfg.get('attention_bias', False)
    W = {'model.embed_tokens.weight': rnd(g, V, D, std=0.5)}
    for i in range(cfg['num_hidden_layers']):
        L = f'model.layers.{i}.'
        for n, out, inp, bias in (('q_proj', H * hd, D, qkv_bias), ('k_proj', KV * hd, D, qkv_bias),
                                  ('v_proj', KV * hd, D, qkv_bias), ('o_proj', D, H * hd, o_bias)):
            W[f'{L}self_attn.{n}.weight'] = rnd(g, out, inp)
            if bias:
                W[f'{L}self_attn.{n}.bias'] = rnd(g, out, std=0.1)
        W[L + 'mlp.gate_proj.weight'] = rnd(g, I, D)
        W[L + 'mlp.up_proj.weight'] = rnd(g, I, D)
        W[L + 'mlp.down_proj.weight'] = rnd(g, D, I, std=0.2)
        W[L + 'input_layernorm.weight'] = rnd(g, D, std=0.2, mean=1.0)
        W[L + 'post_attention_layernorm.weight'] = rnd(g, D, std=0.2, mean=1.0)
    W['model.norm.weight'] = rnd(g, D, std=0.2, mean=1.0)
    if not cfg['tie_word_embeddings']:
        W['lm_head.weight'] = rnd(g, V, D, std=0.5)
    return W


def make_gpt_neox(g, cfg):
    D, V, I, N = cfg['hidden_size'], cfg['vocab_size'], cfg['intermediate_size'], cfg['max_position_embeddings']
    W = {'gpt_neox.embed_in.weight': rnd(g, V, D, std=0.5)}
    for i in range(cfg['num_hidden_layers']):
        L = f'gpt_neox.layers.{i}.'
        for n in ('input_layernorm', 'post_attention_layernorm'):
            W[f'{L}{n}.weight'] = rnd(g, D, std=0.2, mean=1.0)
            W[f'{L}{n}.bias'] = rnd(g, D, std=0.1)
        W[L + 'attention.query_key_value.weight'] = rnd(g, 3 * D, D)
        W[L + 'attention.query_key_value.bias'] = rnd(g, 3 * D, std=0.1)
        W[L + 'attention.dense.weight'] = rnd(g, D, D, std=0.2)
        W[L + 'attention.dense.bias'] = rnd(g, D, std=0.1)
        W[L + 'mlp.dense_h_to_4h.weight'] = rnd(g, I, D)
        W[L + 'mlp.dense_h_to_4h.bias'] = rnd(g, I, std=0.1)
        W[L + 'mlp.dense_4h_to_h.weight'] = rnd(g, D, I, std=0.15)
        W[L + 'mlp.dense_4h_to_h.bias'] = rnd(g, D, std=0.1)
    W['gpt_neox.final_layer_norm.weight'] = rnd(g, D, std=0.2, mean=1.0)
    W['gpt_neox.final_layer_norm.bias'] = rnd(g, D, std=0.1)
    W['embed_out.weight'] = rnd(g, V, D, std=0.5)
    return W


def buffers(cfg):
    """What older published checkpoints carry besides parameters; loaders must skip them."""
    B = {}
    for i in range(cfg['num_hidden_layers']):
        if cfg['model_type'] == 'gpt_neox':
            N = cfg['max_position_embeddings']
            hd = cfg['hidden_size'] // cfg['num_attention_heads']
            dims = int(hd * cfg['rotary_pct'])
            L = f'gpt_neox.layers.{i}.attention.'
            B[L + 'bias'] = torch.ones(N, N, dtype=torch.bool).tril().view(1, 1, N, N)
            B[L + 'masked_bias'] = torch.tensor(-1e9)
            B[L + 'rotary_emb.inv_freq'] = 1.0 / cfg['rotary_emb_base'] ** (torch.arange(0, dims, 2).float() / dims)
        elif cfg['model_type'] == 'llama':
            hd = cfg['head_dim']
            B[f'model.layers.{i}.self_attn.rotary_emb.inv_freq'] = 1.0 / cfg['rope_theta'] ** (torch.arange(0, hd, 2).float() / hd)
    return B


GRAD_PARAMS = {
    'llama': ['model.norm.weight', 'model.layers.0.self_attn.k_proj.weight', 'model.layers.1.mlp.up_proj.weight'],
    'qwen2': ['model.layers.0.self_attn.q_proj.bias', 'model.layers.1.self_attn.v_proj.bias', 'model.layers.0.input_layernorm.weight'],
    'mistral': ['model.layers.1.post_attention_layernorm.weight', 'model.layers.0.self_attn.o_proj.weight'],
    'gpt_neox': ['gpt_neox.layers.0.attention.query_key_value.bias', 'gpt_neox.final_layer_norm.bias',
                 'gpt_neox.layers.1.mlp.dense_4h_to_h.bias'],
}


def write_sharded(d, W, n_shards):
    names = list(W)
    per = math.ceil(len(names) / n_shards)
    weight_map, total = {}, 0
    for s in range(n_shards):
        file = f'model-{s + 1:05d}-of-{n_shards:05d}.safetensors'
        part = {n: W[n] for n in names[s * per:(s + 1) * per]}
        save_safetensors(os.path.join(d, file), part, {'format': 'pt'})
        for n, t in part.items():
            weight_map[n] = file
            total += t.numel() * t.element_size()
    with open(os.path.join(d, 'model.safetensors.index.json'), 'w') as f:
        json.dump({'metadata': {'total_size': total}, 'weight_map': weight_map}, f, indent=2)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'model')
    tokenizer = os.path.join(out, 'gpt2', 'tokenizer.json')
    with open(tokenizer) as f:
        tok = json.load(f)
    V = len(tok['model']['vocab'])
    eos = tok['added_tokens'][0]['id']
    ids = {'bos_token_id': eos, 'eos_token_id': eos}
    rms = {'hidden_act': 'silu', 'initializer_range': 0.02, 'use_cache': True, 'attention_dropout': 0.0, 'rope_scaling': None}
    models = {
        'llama': ({'architectures': ['LlamaForCausalLM'], 'model_type': 'llama', 'vocab_size': V, 'hidden_size': 16,
                   'intermediate_size': 32, 'num_hidden_layers': 2, 'num_attention_heads': 4, 'num_key_value_heads': 2,
                   'head_dim': 8, 'max_position_embeddings': 64, 'rms_norm_eps': 1e-5, 'rope_theta': 1000.0,
                   'attention_bias': False, 'mlp_bias': False, 'pretraining_tp': 1, 'tie_word_embeddings': False,
                   'torch_dtype': 'float32', **rms, **ids}, make_llama, llama_forward, torch.float32, 2),
        'qwen2': ({'architectures': ['Qwen2ForCausalLM'], 'model_type': 'qwen2', 'vocab_size': V, 'hidden_size': 16,
                   'intermediate_size': 24, 'num_hidden_layers': 2, 'num_attention_heads': 4, 'num_key_value_heads': 1,
                   'max_position_embeddings': 64, 'rms_norm_eps': 1e-6, 'rope_theta': 10000.0, 'sliding_window': 64,
                   'use_sliding_window': False, 'max_window_layers': 2, 'tie_word_embeddings': True,
                   'torch_dtype': 'float32', **rms, **ids}, make_llama, llama_forward, torch.float32, 1),
        'mistral': ({'architectures': ['MistralForCausalLM'], 'model_type': 'mistral', 'vocab_size': V, 'hidden_size': 16,
                     'intermediate_size': 40, 'num_hidden_layers': 2, 'num_attention_heads': 4, 'num_key_value_heads': 2,
                     'max_position_embeddings': 128, 'sliding_window': 32, 'rms_norm_eps': 1e-5, 'rope_theta': 10000.0,
                     'tie_word_embeddings': False, 'torch_dtype': 'bfloat16', **rms, **ids},
                    make_llama, llama_forward, torch.bfloat16, 1),
        'gpt_neox': ({'architectures': ['GPTNeoXForCausalLM'], 'model_type': 'gpt_neox', 'vocab_size': V, 'hidden_size': 32,
                      'intermediate_size': 48, 'num_hidden_layers': 2, 'num_attention_heads': 2, 'rotary_pct': 0.25,
                      'rotary_emb_base': 10000, 'max_position_embeddings': 32, 'layer_norm_eps': 1e-5,
                      'use_parallel_residual': True, 'hidden_act': 'gelu', 'attention_dropout': 0.0, 'hidden_dropout': 0.0,
                      'initializer_range': 0.02, 'tie_word_embeddings': False, 'use_cache': True,
                      'torch_dtype': 'float16', **ids}, make_gpt_neox, gpt_neox_forward, torch.float16, 1),
    }
    for i, (name, (cfg, make, fwd, dtype, shards)) in enumerate(models.items()):
        d = os.path.join(out, name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        # rounded to the stored dtype first, so that the reference sees the weights the loader reads
        W = {k: v.to(dtype) for k, v in make(torch.Generator().manual_seed(200 + i), cfg).items()}
        with open(os.path.join(d, 'config.json'), 'w') as f:
            json.dump(cfg, f, indent=2)
        stored = {**W, **buffers(cfg)}
        if shards > 1:
            write_sharded(d, stored, shards)
        else:
            save_safetensors(os.path.join(d, 'model.safetensors'), stored, {'format': 'pt'})
        shutil.copy(tokenizer, os.path.join(d, 'tokenizer.json'))
        with open(os.path.join(d, 'expected.json'), 'w') as f:
            json.dump(expected_for(name, W, cfg, fwd, GRAD_PARAMS[name]), f)
    print(f'wrote fixtures to {os.path.abspath(out)} (vocab {V})')


if __name__ == '__main__':
    main()
