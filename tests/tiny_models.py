"""Tiny random models with a locally built tokenizer, for tests and smoke runs (no network).

    >>> from tests.tiny_models import build_tiny_model
    >>> path = build_tiny_model("/tmp/tiny-causal", kind="causal")   # doctest: +SKIP

Both kinds have 2 layers, width 128 and a word-level vocabulary of `TINY_WORDS`
(whitespace-separated words; ids 0-3 are <pad>, </s>, <unk>, <s>). ``vocab="code"``
gives a causal model a byte-level BPE vocabulary learnt from a few lines of code
(`build_code_tokenizer`): its responses have newlines and indentation, so they span
program lines (what line-level credit needs). ``vocab="chat"`` adds ChatML's turn tokens,
``<think>`` / ``</think>`` and a ChatML chat template to it (`build_chat_tokenizer`): an
instruct model in miniature, whose end of turn (``<|im_end|>``) is not its EOS.
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


CODE_CORPUS = (
    "def total(xs):\n    s = 0\n    for x in xs:\n        s = s + x\n    return s\n",
    "int f(int a) {\n  int b = a + 1;\n  return b;\n}\n",
)
"""What `build_code_tokenizer` learns its merges from."""


def build_code_tokenizer():  # noqa: ANN201
    """A real byte-level BPE tokenizer (the GPT-2 / SmolLM kind, 400 tokens) trained on
    `CODE_CORPUS`; <|endoftext|> (id 0) is EOS and padding."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(list(CODE_CORPUS) * 20, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>")


CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""ChatML, the template of SmolLM2-Instruct and Qwen, for the tiny chat tokenizer."""


def build_chat_tokenizer(template: str = CHAT_TEMPLATE):  # noqa: ANN201
    """`build_code_tokenizer` plus the special tokens <|im_start|> and <|im_end|> (end of
    turn), the added tokens <think> and </think>, and a chat template (ChatML)."""
    tok = build_code_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.add_tokens(["<think>", "</think>"])
    tok.chat_template = template
    return tok


def build_tiny_model(path: str | Path, kind: Literal["causal", "seq2seq"] = "causal",
                     seed: int = 0, vocab: Literal["words", "code", "chat"] = "words") -> str:
    """Save a random 2-layer, d=128 Llama (causal) or T5 (seq2seq) + tokenizer to `path`;
    `vocab` "code" (causal only) uses `build_code_tokenizer` instead of `TINY_WORDS`,
    "chat" (causal only) `build_chat_tokenizer`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    if vocab in ("code", "chat") and kind != "causal":
        raise ValueError(f"vocab={vocab!r} is for causal models")
    builders = {"code": build_code_tokenizer, "chat": build_chat_tokenizer}
    tokenizer = builders[vocab]() if vocab in builders else build_tiny_tokenizer(kind)
    n_vocab = len(tokenizer)
    torch.manual_seed(seed)
    if kind == "causal":
        eos = tokenizer.eos_token_id
        config = LlamaConfig(vocab_size=n_vocab, hidden_size=128, intermediate_size=256,
                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                             max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=eos, bos_token_id=tokenizer.bos_token_id or eos,
                             tie_word_embeddings=False)
        model = LlamaForCausalLM(config)
    elif kind == "seq2seq":
        config = T5Config(vocab_size=n_vocab, d_model=128, d_kv=32, d_ff=256, num_layers=2,
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
