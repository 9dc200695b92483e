#!/usr/bin/python3
"""PyTorch side of `npm run bench:engine` (run by bench/engine.ts with Debian's /usr/bin/python3).

A worker: it loads the GPT-2 checkpoint and the token batches that bench/engine.ts wrote, then
answers one JSON command per stdin line with the seconds each repetition took, so that the two
engines can be timed interleaved in one run. The model is GPT-2 as Hugging Face writes it in
PyTorch (Conv1D = addmm on [in, out] weights, attention from matmul + mask + softmax: torch 1.13
has no scaled_dot_product_attention), the DPO step and the KV-cache sampling loop are the same work
as the TypeScript side.

Commands: {"cmd": "train", "bf16": bool, "steps": n} -> {"secs": [...], "cpu": [...], "losses": [...], "peak_mib": x}
          {"cmd": "sample", "steps": n}             -> {"secs": [...], "cpu": [...], "tokens": first column, "peak_mib": x}
(secs: wall clock; cpu: process CPU time of all threads; peak_mib: peak RSS over the command)
          {"cmd": "quit"}
"""
import json
import math
import os
import re
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
from torch_reference import load_safetensors  # noqa: E402


class Gpt2:
    def __init__(self, W, cfg):
        self.cfg = cfg
        self.W = {k[len('transformer.'):] if k.startswith('transformer.') else k: v for k, v in W.items()}
        self.H = cfg['n_head']
        self.D = cfg['n_embd']

    def params(self):
        return list(self.W.values())

    @staticmethod
    def conv1d(x, w, b):
        shape = x.shape[:-1] + (w.shape[1],)
        return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).view(shape)

    def forward(self, ids, cache=None, mask=None):
        """ids [B,T]; cache: (keys, values, length) preallocated [B,H,S,hd] per layer; mask [B,S] 0/1."""
        W, H, D = self.W, self.H, self.D
        B, T = ids.shape
        past = cache[2] if cache else 0
        S = past + T
        hd = D // H
        causal = torch.ones(T, S).tril(past)
        if mask is None:
            bias = ((causal - 1) * 1e9).view(1, 1, T, S)
            pos = torch.arange(past, S).view(1, T)
        else:
            km = mask.float()
            bias = (causal.view(1, 1, T, S) * km.view(B, 1, 1, S) - 1) * 1e9
            pos = (km.cumsum(1) - 1).clamp(min=0)[:, past:].long()
        x = F.embedding(ids, W['wte.weight']) + F.embedding(pos, W['wpe.weight'])
        eps = self.cfg['layer_norm_epsilon']
        for i in range(self.cfg['n_layer']):
            p = f'h.{i}.'
            a = F.layer_norm(x, (D,), W[p + 'ln_1.weight'], W[p + 'ln_1.bias'], eps)
            q, k, v = self.conv1d(a, W[p + 'attn.c_attn.weight'], W[p + 'attn.c_attn.bias']).split(D, dim=2)
            q = q.view(B, T, H, hd).transpose(1, 2) * (1.0 / math.sqrt(hd))
            k = k.view(B, T, H, hd).transpose(1, 2)
            v = v.view(B, T, H, hd).transpose(1, 2)
            if cache:
                cache[0][i][:, :, past:S].copy_(k)
                cache[1][i][:, :, past:S].copy_(v)
                k = cache[0][i][:, :, :S]
                v = cache[1][i][:, :, :S]
            att = (q @ k.transpose(2, 3) + bias).softmax(3)
            y = (att @ v).transpose(1, 2).reshape(B, T, D)
            x = x + self.conv1d(y, W[p + 'attn.c_proj.weight'], W[p + 'attn.c_proj.bias'])
            m = F.layer_norm(x, (D,), W[p + 'ln_2.weight'], W[p + 'ln_2.bias'], eps)
            f = F.gelu(self.conv1d(m, W[p + 'mlp.c_fc.weight'], W[p + 'mlp.c_fc.bias']), approximate='tanh')
            x = x + self.conv1d(f, W[p + 'mlp.c_proj.weight'], W[p + 'mlp.c_proj.bias'])
        h = F.layer_norm(x, (D,), W['ln_f.weight'], W['ln_f.bias'], eps)
        return F.linear(h, W['wte.weight'])


def response_logprob_sums(model, ids, prompt_len):
    """summed log-probs of tokens prompt_len.. of each row (all rows full length, no padding)"""
    B, L = ids.shape
    logits = model.forward(ids)
    V = logits.shape[2]
    targets = ids[:, 1:].clone()
    targets[:, :prompt_len - 1] = -100
    lp = -F.cross_entropy(logits[:, :-1].reshape(-1, V).float(), targets.reshape(-1), ignore_index=-100, reduction='none')
    return lp.view(B, L - 1).sum(1)


def decode(model, prompts, keys, values, new):
    """`new` tokens drawn at temperature 1 after prompts [B, P], with the preallocated cache
    (keys, values); returns the first row's tokens"""
    out = []
    logits = model.forward(prompts, (keys, values, 0))[:, -1]
    length = prompts.shape[1]
    for step in range(new):
        nxt = torch.multinomial(logits.float().softmax(1), 1)
        out.append(nxt.view(-1).tolist())  # the TypeScript side reads each step's tokens back too
        if step == new - 1:
            break
        logits = model.forward(nxt, (keys, values, length))[:, -1]
        length += 1
    return [row[0] for row in out]


def reset_peak_rss():
    """the peak RSS read next belongs to what runs after this (Linux: 5 into clear_refs resets VmHWM)"""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def peak_rss_mib():
    with open('/proc/self/status') as f:
        return int(re.search(r'^VmHWM:\s+(\d+) kB', f.read(), re.M).group(1)) / 1024


def serve(commands):
    """Answers one JSON command per stdin line ({"cmd": name, "steps": n, ...}) by running
    commands[name](msg) n times: {"secs": wall, "cpu": process CPU time, "losses" (train) or
    "tokens" (sample): what each run returned, "peak_mib": peak RSS over the command}."""
    for line in sys.stdin:
        msg = json.loads(line)
        if msg['cmd'] == 'quit':
            break
        secs, cpu, extra = [], [], []
        reset_peak_rss()
        for _ in range(msg['steps']):
            t0, c0 = time.perf_counter(), time.process_time()
            extra.append(commands[msg['cmd']](msg))
            secs.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        key = 'losses' if msg['cmd'] == 'train' else 'tokens'
        print(json.dumps({'secs': secs, 'cpu': cpu, key: extra, 'peak_mib': peak_rss_mib()}), flush=True)


def main():
    spec = json.load(open(sys.argv[1]))
    torch.set_num_threads(spec['threads'])
    torch.manual_seed(0)
    cfg = spec['config']
    W = load_safetensors(spec['weights'])
    policy = Gpt2({k: v.clone().requires_grad_(True) for k, v in W.items()}, cfg)
    reference = Gpt2({k: v.clone() for k, v in W.items()}, cfg)
    opt = torch.optim.AdamW(policy.params(), lr=spec['lr'], weight_decay=0.0)
    chosen = torch.tensor(spec['chosen'])
    rejected = torch.tensor(spec['rejected'])
    both = torch.cat([chosen, rejected], 0)
    P = spec['prompt_len']
    n = chosen.shape[0]
    beta = spec['beta']
    prompts = torch.tensor(spec['sample_prompts'])

    def train_step(bf16):
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            pol = response_logprob_sums(policy, both, P)
            with torch.no_grad():
                ref = response_logprob_sums(reference, both, P)
        logits = beta * ((pol[:n] - ref[:n]) - (pol[n:] - ref[n:]))
        loss = -F.logsigmoid(logits).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    @torch.no_grad()
    def sample_run():
        B, Pl = prompts.shape
        new = spec['new_tokens']
        S = Pl + new
        hd = cfg['n_embd'] // cfg['n_head']
        keys = [torch.zeros(B, cfg['n_head'], S, hd) for _ in range(cfg['n_layer'])]
        values = [torch.zeros(B, cfg['n_head'], S, hd) for _ in range(cfg['n_layer'])]
        return decode(policy, prompts, keys, values, new)

    serve({'train': lambda msg: train_step(msg['bf16']), 'sample': lambda msg: sample_run()})


if __name__ == '__main__':
    main()
