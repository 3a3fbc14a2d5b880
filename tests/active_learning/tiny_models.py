"""Tiny randomly initialised Hugging Face models that the tests build themselves (no download).

An encoder (BERT, WordPiece vocabulary written here) and a decoder (Qwen2,
byte-level BPE trained here on a few sentences) exercise the same
AutoTokenizer / AutoModelForTokenClassification path as a real backbone.
"""

from __future__ import annotations

import string
from pathlib import Path

WORDS = [
    *[
        "the",
        "answer",
        "is",
        "so",
        "she",
        "he",
        "they",
        "has",
        "have",
        "had",
        "total",
        "sold",
        "each",
        "per",
        "day",
        "more",
        "less",
        "than",
        "and",
        "of",
        "to",
        "in",
        "for",
    ],
    *[
        "a",
        "an",
        "with",
        "wrong",
        "right",
        "good",
        "bad",
        "clips",
        "may",
        "april",
        "natalia",
        "eggs",
        "dollars",
        "price",
        "step",
    ],
]


def build_tiny_bert(directory: Path, *, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    chars = list(string.ascii_lowercase + string.digits)
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        *string.punctuation,
        *chars,
        *[f"##{c}" for c in chars],
        *WORDS,
    ]
    seen = set()
    vocab = [v for v in vocab if not (v in seen or seen.add(v))]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizer(vocab={v: i for i, v in enumerate(vocab)}, do_lower_case=True)
    tok.save_pretrained(directory)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(directory)
    return directory


def build_tiny_qwen2(directory: Path, *, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2Model

    directory.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [" ".join(WORDS), "48/2 = 24\n\n48+24 = 72\n\nThe answer is 72", string.printable] * 20
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    tok.save_pretrained(directory)
    config = Qwen2Config(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(seed)
    Qwen2Model(config).save_pretrained(directory)
    return directory
