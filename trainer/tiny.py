"""Tiny random models with a locally built tokenizer, for tests and smoke runs (no network).

    >>> from trainer.tiny import build_tiny_model
    >>> path = build_tiny_model("/tmp/tiny-causal", kind="causal")   # doctest: +SKIP

Both kinds have 2 layers, width 128 and a word-level vocabulary of `TINY_WORDS`
(whitespace-separated words; ids 0-3 are <pad>, </s>, <unk>, <s>).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

TINY_WORDS = (
    "def return print if else for in while x y z a b c n i + - * = ( ) : , 0 1 2 3 "
    "add sub mul f g h True False None { } ;"
).split()
"""The tiny vocabulary (after the four special tokens)."""


def build_tiny_tokenizer(kind: Literal["causal", "seq2seq"] = "causal"):  # noqa: ANN201
    """A `PreTrainedTokenizerFast` over `TINY_WORDS`; the seq2seq one appends </s> to inputs."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>", "<s>"]
    vocab = {w: i for i, w in enumerate(specials + list(TINY_WORDS))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with single spaces
    if kind == "seq2seq":
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", special_tokens=[("</s>", vocab["</s>"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", bos_token="<s>")


def build_tiny_model(path: str | Path, kind: Literal["causal", "seq2seq"] = "causal",
                     seed: int = 0) -> str:
    """Save a random 2-layer, d=128 Llama (causal) or T5 (seq2seq) + tokenizer to `path`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    tokenizer = build_tiny_tokenizer(kind)
    vocab = len(tokenizer)
    torch.manual_seed(seed)
    if kind == "causal":
        config = LlamaConfig(vocab_size=vocab, hidden_size=128, intermediate_size=256,
                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                             max_position_embeddings=512, pad_token_id=0, eos_token_id=1,
                             bos_token_id=3, tie_word_embeddings=False)
        model = LlamaForCausalLM(config)
    elif kind == "seq2seq":
        config = T5Config(vocab_size=vocab, d_model=128, d_kv=32, d_ff=256, num_layers=2,
                          num_decoder_layers=2, num_heads=4, pad_token_id=0, eos_token_id=1,
                          decoder_start_token_id=0, dropout_rate=0.0)
        model = T5ForConditionalGeneration(config)
    else:
        raise ValueError(f"kind must be 'causal' or 'seq2seq', got {kind!r}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)
