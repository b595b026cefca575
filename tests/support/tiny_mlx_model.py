"""A tiny MLX chat model folder, built in a second, for testing the MLX backend's mechanics.

No MLX model ships on PyPI, and the hub is out of reach here and in CI, so the tests build one:
a `llama`-type model with seeded random weights (what it says is noise; streaming, stopping,
cancelling, seeding and the KV cache are what is under test) and a real byte-level BPE tokenizer
trained on a few paragraphs, with ChatML special tokens and chat template — the same layout
`mlx_lm.load` reads from an mlx-community conversion.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

CORPUS = [
    "Photosynthesis is the process plants use to turn light, water and carbon dioxide into sugar "
    "and oxygen. It happens in the chloroplasts, mostly in the leaves.",
    "A fraction names a part of a whole. To add two fractions, first give them a common "
    "denominator, then add the numerators and simplify the result.",
    "The French Revolution began in 1789. It ended the absolute monarchy, spread the ideas of "
    "liberty and equality, and changed the politics of Europe for a century.",
    "Quang hợp là quá trình cây xanh dùng ánh sáng để biến nước và khí cacbonic thành đường. "
    "Học sinh thường học điều này ở lớp sáu.",
    "In Python, a list keeps items in order and can change; a tuple keeps items in order and "
    "cannot change. Use a dictionary to look values up by key.",
    "Newton's second law says that force equals mass times acceleration. Doubling the force on "
    "the same mass doubles its acceleration.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))  # 5\n",
    "Question: What is the capital of Vietnam? Answer: Hanoi. Question: What is 7 times 8? "
    "Answer: 56. Well done, keep practising!",
]


def _train_tokenizer(vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS * 4, trainer=trainer)
    return tokenizer


def _is_clean_text(tokenizer: Any, token_id: int) -> bool:
    from tokenizers import decoders

    piece = tokenizer.id_to_token(token_id)
    if piece in SPECIAL_TOKENS:
        return False
    data = decoders.ByteLevel().decode([piece]).encode("utf-8", "surrogatepass")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\ufffd" not in text and all(c.isprintable() or c == "\n" for c in text)


def build_tiny_mlx_model(dest: Path, *, seed: int = 0, vocab_size: int = 512) -> Path:
    """Write config.json, model.safetensors, tokenizer.json and tokenizer_config.json to `dest`."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama

    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer(vocab_size)
    tokenizer.save(str(dest / "tokenizer.json"))
    vocab = tokenizer.get_vocab_size()
    eos_id = tokenizer.token_to_id("<|im_end|>")

    config: dict[str, Any] = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "vocab_size": vocab,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
        "bos_token_id": None,
        "eos_token_id": eos_id,
    }
    (dest / "config.json").write_text(json.dumps(config, indent=2))

    mx.random.seed(seed)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    weights = dict(tree_flatten(model.parameters()))
    # Random logits put every token in play; a zero row keeps a token mid-pack, so greedy decoding
    # never picks it. Zeroed: the special tokens (answers do not end by chance and have a useful
    # length) and tokens that are not whole printable UTF-8 (stray bytes would make the text "\ufffd"
    # soup). Scaling the other rows spreads the logits, so greedy choices are not near-ties.
    muted = mx.array([i for i in range(vocab) if not _is_clean_text(tokenizer, i)])
    lm_head = weights["lm_head.weight"] * 8.0
    lm_head[muted] = 0.0
    weights["lm_head.weight"] = lm_head
    mx.save_safetensors(str(dest / "model.safetensors"), weights, metadata={"format": "mlx"})

    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "add_bos_token": False,
        "model_max_length": 2048,
        "clean_up_tokenization_spaces": False,
        "chat_template": CHATML_TEMPLATE,
    }
    (dest / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    return dest


def copy_with_eos(src: Path, dest: Path, extra_eos_ids: Iterable[int]) -> Path:
    """A copy of the model whose config lists more end-of-sequence ids, so a chosen token ends generation."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.name != "config.json":
            shutil.copy2(item, dest / item.name)
    config = json.loads((src / "config.json").read_text())
    base = config["eos_token_id"]
    config["eos_token_id"] = [*(base if isinstance(base, list) else [base]), *extra_eos_ids]
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    return dest


def with_chat_template(src: Path, dest: Path, template: str | None) -> Path:
    """A copy with another chat template, or none at all (a base model: the plain-prompt fallback)."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        shutil.copy2(item, dest / item.name)
    config = json.loads((src / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    if template is not None:
        config["chat_template"] = template
    (dest / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return dest


# Like Gemma's and older Mistral's templates: no system role.
NO_SYSTEM_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    + CHATML_TEMPLATE
)
