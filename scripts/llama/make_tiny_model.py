#!/usr/bin/env python3
"""Write a tiny LLaMA-architecture GGUF model with seeded random weights.

Only useful for tests: llama-server loads it like any LLaMA model, tokenizes
with the real 32k SentencePiece vocabulary, applies a ChatML chat template and
generates (meaningless) text fast. The weights are arranged so generation never
picks EOS/BOS/UNK or a raw byte token: replies run until max_tokens and always
decode to valid UTF-8 text.

How EOS is suppressed (llama has no output bias): hidden dimension 0 of every
token embedding is a large constant, and no layer writes into dimension 0, so
after the final RMSNorm that component is always large and positive. Column 0
of the `output` matrix is 0 for normal tokens and strongly negative for the
suppressed ones, which acts as a fixed logit bias of about -60.

Needs the PyPI packages `gguf` and `numpy`.
Usage: make_tiny_model.py --vocab ggml-vocab-llama-spm.gguf --out tiny.gguf --seed 42
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

try:
    import gguf
except ImportError:  # pragma: no cover
    sys.exit("make_tiny_model.py: the Python package 'gguf' is required (pip install gguf)")

# A ChatML-style template. The <|im_start|>/<|im_end|> markers are plain text
# for this vocabulary, which is fine: the model is random anyway.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab", required=True, help="tokenizer-only GGUF, e.g. llama.cpp/models/ggml-vocab-llama-spm.gguf")
    p.add_argument("--out", required=True, help="output .gguf path")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--embd", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ff", type=int, default=128)
    # llama-server caps each slot at this training context, whatever -c says, so
    # keep it roomy; the real limit is chosen per server with -c.
    p.add_argument("--ctx", type=int, default=4096, help="training context length written to the GGUF")
    return p.parse_args()


def copy_tokenizer(reader: "gguf.GGUFReader", writer: "gguf.GGUFWriter") -> dict:
    """Copy every tokenizer.ggml.* key (model, pre, tokens, scores, types, ids, flags)."""
    copied = {}
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer.ggml."):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            sub = field.types[-1]
            val = field.contents()
            writer.add_key_value(key, val, vtype, sub_type=sub)
            copied[key] = val
        else:
            val = field.contents()
            writer.add_key_value(key, val, vtype)
            copied[key] = val
    if "tokenizer.ggml.tokens" not in copied:
        sys.exit("make_tiny_model.py: the --vocab file has no tokenizer.ggml.tokens")
    return copied


def main() -> int:
    a = parse_args()
    if a.embd % a.heads:
        sys.exit("--embd must be a multiple of --heads")
    reader = gguf.GGUFReader(a.vocab)
    rng = np.random.default_rng(a.seed)

    tmp_out = a.out
    os.makedirs(os.path.dirname(os.path.abspath(tmp_out)), exist_ok=True)
    w = gguf.GGUFWriter(tmp_out, "llama")
    w.add_name("neuralchat-tiny-llama")
    w.add_context_length(a.ctx)
    w.add_embedding_length(a.embd)
    w.add_block_count(a.layers)
    w.add_feed_forward_length(a.ff)
    w.add_head_count(a.heads)
    w.add_head_count_kv(a.heads)
    w.add_rope_dimension_count(a.embd // a.heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)

    tok = copy_tokenizer(reader, w)
    tokens = tok["tokenizer.ggml.tokens"]
    types = list(tok.get("tokenizer.ggml.token_type", [1] * len(tokens)))
    n_vocab = len(tokens)
    w.add_vocab_size(n_vocab)
    w.add_chat_template(CHAT_TEMPLATE)

    E, F = a.embd, a.ff
    f32 = np.float32

    def rnd(*shape, std):
        return rng.normal(0.0, std, size=shape).astype(f32)

    # Tokens that must never be generated: control/unknown/unused/byte tokens
    # (token_type != NORMAL(1)) plus the declared special ids.
    suppress = np.array([t != 1 for t in types], dtype=bool)
    for k in ("bos_token_id", "eos_token_id", "unknown_token_id", "padding_token_id", "eot_token_id"):
        v = tok.get("tokenizer.ggml." + k)
        if v is not None and 0 <= int(v) < n_vocab:
            suppress[int(v)] = True

    # numpy shapes are the reverse of ggml's ne[]: (rows=out, cols=in)
    tok_embd = rnd(n_vocab, E, std=0.1)
    tok_embd[:, 0] = 1.0                      # the constant "bias" channel
    w.add_tensor("token_embd.weight", tok_embd)

    for i in range(a.layers):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(E, dtype=f32))
        w.add_tensor(p + "attn_q.weight", rnd(E, E, std=0.2))
        w.add_tensor(p + "attn_k.weight", rnd(E, E, std=0.2))
        w.add_tensor(p + "attn_v.weight", rnd(E, E, std=0.2))
        wo = rnd(E, E, std=0.05)
        wo[0, :] = 0.0                        # never write into channel 0
        w.add_tensor(p + "attn_output.weight", wo)
        w.add_tensor(p + "ffn_norm.weight", np.ones(E, dtype=f32))
        w.add_tensor(p + "ffn_gate.weight", rnd(F, E, std=0.2))
        w.add_tensor(p + "ffn_up.weight", rnd(F, E, std=0.2))
        wd = rnd(E, F, std=0.05)
        wd[0, :] = 0.0
        w.add_tensor(p + "ffn_down.weight", wd)

    w.add_tensor("output_norm.weight", np.ones(E, dtype=f32))
    out = rnd(n_vocab, E, std=0.5)
    out[:, 0] = 0.0
    out[suppress, 0] = -10.0                  # ~ -60 logits after RMSNorm
    w.add_tensor("output.weight", out)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    size = os.path.getsize(tmp_out)
    print(f"wrote {tmp_out}: {a.layers} layers, n_embd {E}, {a.heads} heads, n_ff {F}, "
          f"vocab {n_vocab} ({int(suppress.sum())} suppressed), ctx {a.ctx}, f32, seed {a.seed}, "
          f"{size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
