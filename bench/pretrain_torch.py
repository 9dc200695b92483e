"""PyTorch reference for the pretraining benchmark: the same GPT-2 model and training step as
`d2po pretrain` (pre-LayerNorm decoder, tanh GELU, learned positions, tied head, dropout 0.1,
AdamW with two groups, grad clip 1, cross-entropy), on random token windows, 2 threads.

  /usr/bin/python3 bench/pretrain_torch.py --n-embd 256 --n-layer 4 --n-head 4 --seq 128 --batch 32 --vocab 4096 [--bf16]

Prints one JSON line: median seconds per step and tokens/s over the timed steps.
"""
import argparse, json, math, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
for k, d in [('n-embd', 256), ('n-layer', 4), ('n-head', 4), ('seq', 128), ('batch', 32), ('vocab', 4096), ('warmup', 3), ('steps', 10), ('threads', 2)]:
    p.add_argument('--' + k, type=int, default=d)
p.add_argument('--bf16', action='store_true')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


class Block(nn.Module):
    def __init__(s, d, h):
        super().__init__()
        s.h = h
        s.ln_1, s.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        s.c_attn, s.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        s.c_fc, s.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(s, x, mask):
        B, T, D = x.shape
        q, k, v = s.c_attn(s.ln_1(x)).split(D, dim=2)
        q, k, v = [t.view(B, T, s.h, D // s.h).transpose(1, 2) for t in (q, k, v)]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D // s.h)
        att = F.dropout(att.masked_fill(mask, float('-inf')).softmax(-1), 0.1, s.training)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + F.dropout(s.c_proj(y), 0.1, s.training)
        return x + F.dropout(s.mlp_proj(F.gelu(s.c_fc(s.ln_2(x)), approximate='tanh')), 0.1, s.training)


class GPT(nn.Module):
    def __init__(s):
        super().__init__()
        s.wte, s.wpe = nn.Embedding(a.vocab, a.n_embd), nn.Embedding(a.seq, a.n_embd)
        s.h = nn.ModuleList([Block(a.n_embd, a.n_head) for _ in range(a.n_layer)])
        s.ln_f = nn.LayerNorm(a.n_embd)

    def forward(s, ids):
        T = ids.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        x = F.dropout(s.wte(ids) + s.wpe(torch.arange(T)), 0.1, s.training)
        for b in s.h:
            x = b(x, mask)
        return s.ln_f(x) @ s.wte.weight.t()


m = GPT()
decay = [p for n, p in m.named_parameters() if p.dim() >= 2 and not n.startswith('wpe')]
rest = [p for n, p in m.named_parameters() if not (p.dim() >= 2 and not n.startswith('wpe'))]
opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': rest, 'weight_decay': 0.0}], lr=1e-3, betas=(0.9, 0.95))
times = []
for step in range(a.warmup + a.steps):
    x = torch.randint(0, a.vocab, (a.batch, a.seq + 1))
    t0 = time.perf_counter()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=a.bf16):
        logits = m(x[:, :-1])
    loss = F.cross_entropy(logits.float().reshape(-1, a.vocab), x[:, 1:].reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    loss.item()
    if step >= a.warmup:
        times.append(time.perf_counter() - t0)
med = statistics.median(times)
print(json.dumps({'engine': f'pytorch {torch.__version__}', 'bf16': a.bf16, 'params': sum(p.numel() for p in m.parameters()),
                  's_per_step': round(med, 4), 'tokens_per_s': round(a.batch * a.seq / med)}))
