#!/usr/bin/python3
"""Independent PyTorch reference for the TypeScript GPT-2 and OPT decoders.

Run with Debian's python (python3-torch 1.13, no transformers):

    /usr/bin/python3 scripts/torch_reference.py [OUT_DIR]   # default test/fixtures/model

It writes tiny random checkpoints in the Hugging Face layout (config.json + model.safetensors,
HF parameter names, GPT-2 Conv1D weights [in, out] and its `attn.bias`/`attn.masked_bias`
buffers, OPT with `model.decoder.` names and an explicit `lm_head.weight`), a small byte-level
BPE tokenizer.json, and `expected.json`: per-token log-probs computed here in float64 for
prompt/response pairs, and float64 gradients of the summed response log-probs. The TypeScript
tests compare against these files, so they need no Python. bench/torch_engine.py imports the
model functions and the safetensors I/O from this file.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------- safetensors (own, minimal)
_DT = {torch.float32: 'F32', torch.float64: 'F64', torch.bfloat16: 'BF16', torch.float16: 'F16', torch.int64: 'I64',
       torch.bool: 'BOOL'}
_TD = {v: k for k, v in _DT.items()}


def save_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header['__metadata__'] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {'dtype': _DT[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        b, end = e['data_offsets']
        buf = bytearray(data[base + b:base + end])
        dt = _TD[e['dtype']]
        if dt == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(buf, dtype=dt) if len(buf) else torch.empty(0, dtype=dt)
        out[name] = t.reshape(e['shape']).clone()
    return out


# ---------------------------------------------------------------- models (functional)
def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def _act(name, x):
    if name in ('gelu_new', 'gelu_pytorch_tanh'):
        return gelu_new(x)
    if name == 'gelu':
        return F.gelu(x)
    return F.relu(x)


def _attention(q, k, v, n_head, mask):
    """q, k, v [B,T,D]; mask [B,1,T,T] additive or None (then causal)."""
    B, T, D = q.shape
    hd = D // n_head
    q = q.view(B, T, n_head, hd).transpose(1, 2)
    k = k.view(B, T, n_head, hd).transpose(1, 2)
    v = v.view(B, T, n_head, hd).transpose(1, 2)
    att = q @ k.transpose(-1, -2)
    if mask is None:
        causal = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
        att = att.masked_fill(~causal, float('-inf'))
    else:
        att = att + mask
    y = att.softmax(-1) @ v
    return y.transpose(1, 2).reshape(B, T, D)


def gpt2_forward(W, cfg, ids, p=''):
    """W: HF names without prefix (Conv1D weights [in, out]); ids [B,T] unpadded. Returns logits."""
    B, T = ids.shape
    eps = cfg['layer_norm_epsilon']
    H = cfg['n_head']
    D = cfg['n_embd']
    x = W[p + 'wte.weight'][ids] + W[p + 'wpe.weight'][:T]
    for i in range(cfg['n_layer']):
        g = lambda n: W[f'{p}h.{i}.{n}']
        h = F.layer_norm(x, (D,), g('ln_1.weight'), g('ln_1.bias'), eps)
        qkv = h @ g('attn.c_attn.weight') + g('attn.c_attn.bias')
        q, k, v = qkv.split(D, dim=-1)
        q = q / math.sqrt(D // H)
        y = _attention(q, k, v, H, None)
        x = x + y @ g('attn.c_proj.weight') + g('attn.c_proj.bias')
        h = F.layer_norm(x, (D,), g('ln_2.weight'), g('ln_2.bias'), eps)
        h = _act(cfg['activation_function'], h @ g('mlp.c_fc.weight') + g('mlp.c_fc.bias'))
        x = x + h @ g('mlp.c_proj.weight') + g('mlp.c_proj.bias')
    x = F.layer_norm(x, (D,), W[p + 'ln_f.weight'], W[p + 'ln_f.bias'], eps)
    return x @ W[p + 'wte.weight'].t()


def opt_forward(W, cfg, ids, p='model.decoder.'):
    B, T = ids.shape
    D = cfg['hidden_size']
    H = cfg['num_attention_heads']
    pre = cfg['do_layer_norm_before']
    x = W[p + 'embed_tokens.weight'][ids]
    if p + 'project_in.weight' in W:
        x = x @ W[p + 'project_in.weight'].t()
    x = x + W[p + 'embed_positions.weight'][torch.arange(T) + 2]  # OPT's learned positions are offset by 2
    lin = lambda h, n: h @ W[n + '.weight'].t() + W[n + '.bias']
    ln = lambda h, n: F.layer_norm(h, (D,), W[n + '.weight'], W[n + '.bias'], 1e-5)
    for i in range(cfg['num_hidden_layers']):
        L = f'{p}layers.{i}.'
        r = x
        h = ln(x, L + 'self_attn_layer_norm') if pre else x
        q = lin(h, L + 'self_attn.q_proj') * (D // H) ** -0.5
        y = _attention(q, lin(h, L + 'self_attn.k_proj'), lin(h, L + 'self_attn.v_proj'), H, None)
        x = r + lin(y, L + 'self_attn.out_proj')
        if not pre:
            x = ln(x, L + 'self_attn_layer_norm')
        r = x
        h = ln(x, L + 'final_layer_norm') if pre else x
        h = lin(_act(cfg['activation_function'], lin(h, L + 'fc1')), L + 'fc2')
        x = r + h
        if not pre:
            x = ln(x, L + 'final_layer_norm')
    if p + 'final_layer_norm.weight' in W:
        x = ln(x, p + 'final_layer_norm')
    if p + 'project_out.weight' in W:
        x = x @ W[p + 'project_out.weight'].t()
    return x @ W['lm_head.weight'].t()


# ---------------------------------------------------------------- fixtures
def rnd(g, *shape, std=0.3, mean=0.0):
    return (torch.randn(*shape, generator=g) * std + mean).float()


def make_gpt2(g, cfg):
    D, V, L, N = cfg['n_embd'], cfg['vocab_size'], cfg['n_layer'], cfg['n_positions']
    I = 4 * D
    W = {'wte.weight': rnd(g, V, D, std=0.5), 'wpe.weight': rnd(g, N, D, std=0.2)}
    for i in range(L):
        p = f'h.{i}.'
        W[p + 'ln_1.weight'] = rnd(g, D, std=0.2, mean=1.0)
        W[p + 'ln_1.bias'] = rnd(g, D, std=0.1)
        # buffers published in old GPT-2 checkpoints; not parameters
        W[p + 'attn.bias'] = torch.ones(N, N).tril().view(1, 1, N, N)
        W[p + 'attn.masked_bias'] = torch.tensor(-1e4)
        W[p + 'attn.c_attn.weight'] = rnd(g, D, 3 * D)
        W[p + 'attn.c_attn.bias'] = rnd(g, 3 * D, std=0.1)
        W[p + 'attn.c_proj.weight'] = rnd(g, D, D)
        W[p + 'attn.c_proj.bias'] = rnd(g, D, std=0.1)
        W[p + 'ln_2.weight'] = rnd(g, D, std=0.2, mean=1.0)
        W[p + 'ln_2.bias'] = rnd(g, D, std=0.1)
        W[p + 'mlp.c_fc.weight'] = rnd(g, D, I)
        W[p + 'mlp.c_fc.bias'] = rnd(g, I, std=0.1)
        W[p + 'mlp.c_proj.weight'] = rnd(g, I, D, std=0.15)
        W[p + 'mlp.c_proj.bias'] = rnd(g, D, std=0.1)
    W['ln_f.weight'] = rnd(g, D, std=0.2, mean=1.0)
    W['ln_f.bias'] = rnd(g, D, std=0.1)
    return W


def make_opt(g, cfg):
    D, V, L = cfg['hidden_size'], cfg['vocab_size'], cfg['num_hidden_layers']
    E = cfg.get('word_embed_proj_dim', D)
    p = 'model.decoder.'
    W = {p + 'embed_tokens.weight': rnd(g, V, E, std=0.5),
         p + 'embed_positions.weight': rnd(g, cfg['max_position_embeddings'] + 2, D, std=0.2)}
    if E != D:
        W[p + 'project_in.weight'] = rnd(g, D, E)
        W[p + 'project_out.weight'] = rnd(g, E, D)
    for i in range(L):
        q = f'{p}layers.{i}.'
        for n in ('q_proj', 'k_proj', 'v_proj', 'out_proj'):
            W[q + f'self_attn.{n}.weight'] = rnd(g, D, D)
            W[q + f'self_attn.{n}.bias'] = rnd(g, D, std=0.1)
        W[q + 'self_attn_layer_norm.weight'] = rnd(g, D, std=0.2, mean=1.0)
        W[q + 'self_attn_layer_norm.bias'] = rnd(g, D, std=0.1)
        W[q + 'fc1.weight'] = rnd(g, cfg['ffn_dim'], D)
        W[q + 'fc1.bias'] = rnd(g, cfg['ffn_dim'], std=0.1)
        W[q + 'fc2.weight'] = rnd(g, D, cfg['ffn_dim'], std=0.2)
        W[q + 'fc2.bias'] = rnd(g, D, std=0.1)
        W[q + 'final_layer_norm.weight'] = rnd(g, D, std=0.2, mean=1.0)
        W[q + 'final_layer_norm.bias'] = rnd(g, D, std=0.1)
    if cfg['do_layer_norm_before']:
        W[p + 'final_layer_norm.weight'] = rnd(g, D, std=0.2, mean=1.0)
        W[p + 'final_layer_norm.bias'] = rnd(g, D, std=0.1)
    W['lm_head.weight'] = W[p + 'embed_tokens.weight']  # tied, but published checkpoints carry a copy
    return W


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable-unicode map used by byte-level BPE."""
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def make_tokenizer(text, n_merges):
    """A GPT-2 style byte-level BPE tokenizer.json: 256 byte tokens, n_merges learned merges, <|endoftext|>."""
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    words = [[b2u[b] for b in (' ' + w if i else w).encode()] for i, w in enumerate(text.split(' '))]
    merges = []
    for _ in range(n_merges):
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        best = max(sorted(counts), key=lambda k: counts[k])
        merges.append(f'{best[0]} {best[1]}')
        vocab[best[0] + best[1]] = len(vocab)
        new = []
        for w in words:
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new.append(out)
        words = new
    eos = len(vocab)
    vocab['<|endoftext|>'] = eos
    return {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': [{'id': eos, 'content': '<|endoftext|>', 'single_word': False, 'lstrip': False,
                          'rstrip': False, 'normalized': True, 'special': True}],
        'normalizer': None,
        'pre_tokenizer': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': True},
        'post_processor': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': False, 'use_regex': True},
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': '',
                  'end_of_word_suffix': '', 'fuse_unk': False, 'byte_fallback': False, 'vocab': vocab,
                  'merges': merges},
    }, eos


def token_logprobs(logits, ids):
    """log p(ids[t] | ids[<t]) for t >= 1, from logits [T,V] of one unpadded sequence."""
    lp = logits[:-1].log_softmax(-1)
    return lp.gather(-1, ids[1:, None])[:, 0]


PAIRS = [  # (prompt, response) lengths chosen so batches need left and right padding
    ([5, 17, 3], [8, 40, 2, 9]),
    ([1, 2, 3, 4, 5, 6, 7], [11]),
    ([60], [33, 12, 7, 50, 21, 3, 6]),
    ([9, 9, 9, 9], [9, 9]),
    ([42, 7, 13, 28, 5], [4, 36, 16]),
]

GRAD_PARAMS = {  # a few parameters whose float64 gradients the tests compare against
    'gpt2': ['ln_f.weight', 'h.0.attn.c_attn.weight', 'h.1.mlp.c_proj.bias', 'wpe.weight'],
    'opt': ['model.decoder.final_layer_norm.weight', 'model.decoder.layers.0.self_attn.q_proj.weight',
            'model.decoder.layers.1.fc2.bias', 'model.decoder.embed_positions.weight'],
    'opt-postln': ['model.decoder.layers.1.final_layer_norm.weight', 'model.decoder.project_in.weight',
                   'model.decoder.layers.0.self_attn.k_proj.bias'],
}


def expected_for(name, W, cfg, fwd, grad_params=None):
    W64 = {k: v.double().requires_grad_(v.is_floating_point()) for k, v in W.items()}
    if name.startswith('opt'):
        W64['lm_head.weight'] = W64['model.decoder.embed_tokens.weight']  # tied: one tensor, summed gradient
    cases, total = [], 0.0
    for prompt, response in PAIRS:
        ids = torch.tensor([prompt + response])
        lp = token_logprobs(fwd(W64, cfg, ids)[0], ids[0])
        resp = lp[len(prompt) - 1:]
        total = total + resp.sum()
        cases.append({'prompt_ids': prompt, 'response_ids': response,
                      'sequence_token_logprobs': lp.tolist(), 'token_logprobs': resp.tolist(),
                      'logprob': resp.sum().item()})
    total.backward()
    grads = {k: {'shape': list(W64[k].shape), 'values': W64[k].grad.flatten().tolist()}
             for k in (grad_params or GRAD_PARAMS[name])}
    return {'cases': cases, 'loss': 'sum over cases of the summed response log-probs', 'grads': grads}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'model')
    torch.manual_seed(0)
    text = ('the cat sat on the mat and the dog sat on the log while the other cat ate the fish '
            'then the dog and the cat went to sleep on the mat by the door of the house')
    tok, eos = make_tokenizer(text, 40)
    V = len(tok['model']['vocab'])
    models = {
        'gpt2': ({'model_type': 'gpt2', 'architectures': ['GPT2LMHeadModel'], 'vocab_size': V, 'n_positions': 32,
                  'n_embd': 16, 'n_layer': 2, 'n_head': 2, 'activation_function': 'gelu_new',
                  'layer_norm_epsilon': 1e-5, 'resid_pdrop': 0.0, 'embd_pdrop': 0.0, 'attn_pdrop': 0.0,
                  'bos_token_id': eos, 'eos_token_id': eos, 'tie_word_embeddings': True}, make_gpt2, gpt2_forward),
        'opt': ({'model_type': 'opt', 'architectures': ['OPTForCausalLM'], 'vocab_size': V, 'hidden_size': 16,
                 'num_hidden_layers': 2, 'num_attention_heads': 2, 'ffn_dim': 32, 'max_position_embeddings': 32,
                 'do_layer_norm_before': True, 'word_embed_proj_dim': 16, 'activation_function': 'relu',
                 'dropout': 0.0, 'attention_dropout': 0.0, 'pad_token_id': 1, 'bos_token_id': 2,
                 'eos_token_id': eos}, make_opt, opt_forward),
        # OPT-350m's variant: post-LayerNorm, no final LayerNorm, embeddings projected in and out
        'opt-postln': ({'model_type': 'opt', 'architectures': ['OPTForCausalLM'], 'vocab_size': V,
                        'hidden_size': 16, 'num_hidden_layers': 2, 'num_attention_heads': 4, 'ffn_dim': 24,
                        'max_position_embeddings': 32, 'do_layer_norm_before': False, 'word_embed_proj_dim': 8,
                        'activation_function': 'relu', 'dropout': 0.0, 'attention_dropout': 0.0,
                        'pad_token_id': 1, 'bos_token_id': 2, 'eos_token_id': eos}, make_opt, opt_forward),
    }
    for i, (name, (cfg, make, fwd)) in enumerate(models.items()):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        W = make(torch.Generator().manual_seed(100 + i), cfg)
        with open(os.path.join(d, 'config.json'), 'w') as f:
            json.dump(cfg, f, indent=2)
        save_safetensors(os.path.join(d, 'model.safetensors'), W, {'format': 'pt'})
        with open(os.path.join(d, 'expected.json'), 'w') as f:
            json.dump(expected_for(name, W, cfg, fwd), f)
    with open(os.path.join(out, 'gpt2', 'tokenizer.json'), 'w') as f:
        json.dump(tok, f, ensure_ascii=False)
    print(f'wrote fixtures to {os.path.abspath(out)} (vocab {V})')


if __name__ == '__main__':
    main()
