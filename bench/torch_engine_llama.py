#!/usr/bin/python3
"""PyTorch side of the Llama half of `npm run bench:engine` (bench/engine-llama.ts).

A worker like bench/torch_engine.py (same commands and replies; "train" also takes "kind": "lora"
or "full"). The model is Llama as transformers' modeling_llama runs it, written out here (torch
1.13 has neither transformers' dependencies nor scaled_dot_product_attention): RMSNorm in float32,
rotate-half RoPE, grouped-query attention by repeating key/value heads (repeat_kv), SwiGLU, tied
head. LoRA by hand as PEFT computes it: W x + s B (A x), A and B float32, trained with the base
frozen. One set of frozen weights serves as the reference of both steps and as the LoRA base.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import load_safetensors  # noqa: E402
from torch_engine import decode, response_logprob_sums, serve  # noqa: E402


class Llama:
    def __init__(self, W, cfg, lora=None, scaling=1.0):
        self.W = {k[len('model.'):] if k.startswith('model.') else k: v for k, v in W.items()}
        self.cfg = cfg
        self.lora = lora or {}
        self.scaling = scaling

    def proj(self, x, name):
        y = F.linear(x, self.W[name + '.weight'])
        if name in self.lora:
            a, b = self.lora[name]
            y = y + (F.linear(F.linear(x.float(), a), b) * self.scaling).to(y.dtype)
        return y

    def rms(self, x, name):
        xf = x.float()
        h = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.cfg['rms_norm_eps'])
        return self.W[name + '.weight'] * h.to(x.dtype)

    def forward(self, ids, cache=None, mask=None):
        """ids [B,T]; cache: (keys, values, length) preallocated [B,Hkv,S,hd] per layer; mask [B,S] 0/1."""
        c = self.cfg
        B, T = ids.shape
        H, KV = c['num_attention_heads'], c['num_key_value_heads']
        hd = c['hidden_size'] // H
        past = cache[2] if cache else 0
        S = past + T
        dev = ids.device
        causal = torch.ones(T, S, device=dev).tril(past)
        if mask is None:
            bias = ((causal - 1) * 1e9).view(1, 1, T, S)
            pos = torch.arange(past, S, device=dev).view(1, T)
        else:
            km = mask.float()
            bias = (causal.view(1, 1, T, S) * km.view(B, 1, 1, S) - 1) * 1e9
            pos = (km.cumsum(1) - 1).clamp(min=0)[:, past:].long()
        inv = 1.0 / (c['rope_theta'] ** (torch.arange(0, hd, 2, device=dev).float() / hd))
        freqs = pos.float().unsqueeze(-1) * inv
        ang = torch.cat([freqs, freqs], -1).unsqueeze(1)
        x = F.embedding(ids, self.W['embed_tokens.weight'])
        cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)

        def rope(t):
            h = hd // 2
            return t * cos + torch.cat([-t[..., h:], t[..., :h]], -1) * sin

        for i in range(c['num_hidden_layers']):
            p = f'layers.{i}.'
            a = self.rms(x, p + 'input_layernorm')
            q = rope(self.proj(a, p + 'self_attn.q_proj').view(B, T, H, hd).transpose(1, 2))
            k = rope(self.proj(a, p + 'self_attn.k_proj').view(B, T, KV, hd).transpose(1, 2))
            v = self.proj(a, p + 'self_attn.v_proj').view(B, T, KV, hd).transpose(1, 2)
            if cache:
                cache[0][i][:, :, past:S].copy_(k)
                cache[1][i][:, :, past:S].copy_(v)
                k = cache[0][i][:, :, :S]
                v = cache[1][i][:, :, :S]
            # transformers' repeat_kv: each key/value head copied for its group of query heads
            k = k[:, :, None].expand(B, KV, H // KV, S, hd).reshape(B, H, S, hd)
            v = v[:, :, None].expand(B, KV, H // KV, S, hd).reshape(B, H, S, hd)
            att = (q @ k.transpose(2, 3) / math.sqrt(hd) + bias).float().softmax(-1).to(q.dtype)
            y = (att @ v).transpose(1, 2).reshape(B, T, H * hd)
            x = x + self.proj(y, p + 'self_attn.o_proj')
            m = self.rms(x, p + 'post_attention_layernorm')
            x = x + self.proj(F.silu(self.proj(m, p + 'mlp.gate_proj')) * self.proj(m, p + 'mlp.up_proj'), p + 'mlp.down_proj')
        return F.linear(self.rms(x, 'norm'), self.W['embed_tokens.weight'])


def main():
    spec = json.load(open(sys.argv[1]))
    torch.set_num_threads(spec['threads'])
    torch.manual_seed(0)
    dev = torch.device(spec['device'])
    cfg = spec['config']
    W = {k: v.to(dev) for k, v in load_safetensors(spec['weights']).items()}
    full = Llama({k: v.clone().requires_grad_(True) for k, v in W.items()}, cfg)
    reference = Llama(W, cfg)
    lora_t = {k: v.to(dev) for k, v in load_safetensors(spec['lora']).items()}
    lora = {m[:-len('.lora_A.weight')]: (lora_t[m].requires_grad_(True), lora_t[m.replace('lora_A', 'lora_B')].requires_grad_(True))
            for m in lora_t if m.endswith('.lora_A.weight')}
    lora = {k[len('model.'):]: v for k, v in lora.items()}
    lora_policy = Llama(W, cfg, lora, spec['lora_scaling'])
    policies = {'full': full, 'lora': lora_policy}
    opts = {
        'full': torch.optim.AdamW(list(full.W.values()), lr=spec['lr'], weight_decay=0.0),
        'lora': torch.optim.AdamW([t for ab in lora.values() for t in ab], lr=spec['lr'], weight_decay=0.0),
    }
    chosen = torch.tensor(spec['chosen'], device=dev)
    rejected = torch.tensor(spec['rejected'], device=dev)
    both = torch.cat([chosen, rejected], 0)
    P = spec['prompt_len']
    n = chosen.shape[0]
    beta = spec['beta']
    prompts = torch.tensor(spec['sample_prompts'], device=dev)

    def train_step(kind, bf16):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            pol = response_logprob_sums(policies[kind], both, P)
            with torch.no_grad():
                ref = response_logprob_sums(reference, both, P)
        logits = beta * ((pol[:n] - ref[:n]) - (pol[n:] - ref[n:]))
        loss = -F.logsigmoid(logits).sum()
        opts[kind].zero_grad()
        loss.backward()
        opts[kind].step()
        return loss.item()

    @torch.no_grad()
    def sample_run(bf16):
        B, Pl = prompts.shape
        new = spec['new_tokens']
        S = Pl + new
        KV = cfg['num_key_value_heads']
        hd = cfg['hidden_size'] // cfg['num_attention_heads']
        # float32, the weights' dtype, as ours
        keys = [torch.zeros(B, KV, S, hd, device=dev) for _ in range(cfg['num_hidden_layers'])]
        values = [torch.zeros(B, KV, S, hd, device=dev) for _ in range(cfg['num_hidden_layers'])]
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            return decode(reference, prompts, keys, values, new)

    serve({'train': lambda msg: train_step(msg['kind'], msg['bf16']), 'sample': lambda msg: sample_run(msg.get('bf16', False))})


if __name__ == '__main__':
    main()
