"""Quantisation types: bits per weight (for size estimates) and their quality cost.

Figures are llama.cpp's own, from tools/quantize/quantize.cpp QUANT_OPTIONS: the file size of
Llama-3-8B (8.03 B parameters) in each type, in GiB, and the perplexity increase it measured
("4.58G, +0.1754 ppl @ Llama-3-8B"). Bits per weight follow from the size, so they include the
higher-precision tensors (embeddings, output) each mix keeps. Sizes computed from them are
*estimates*; the exact size and sha256 come from the server at download time.
MLX: mlx-lm quantises in groups of 64 with an fp16 scale and bias per group (mlx.nn.quantize
defaults), i.e. bits + 32/64 bits per weight.
"""

from __future__ import annotations

from dataclasses import dataclass

LLAMA3_8B_PARAMS = 8.03e9


@dataclass(frozen=True)
class QuantType:
    name: str
    size_gib_llama3_8b: float | None  # None: defined by block layout instead (see bpw_override)
    ppl_delta: float                  # perplexity increase vs F16 as llama.cpp reports it
    bpw_override: float | None = None

    @property
    def bits_per_weight(self) -> float:
        if self.bpw_override is not None:
            return self.bpw_override
        assert self.size_gib_llama3_8b is not None
        return self.size_gib_llama3_8b * 1024**3 * 8 / LLAMA3_8B_PARAMS


QUANTS: dict[str, QuantType] = {q.name: q for q in (
    QuantType("Q4_0", 4.34, 0.4685),
    QuantType("Q4_1", 4.78, 0.4511),
    QuantType("Q5_0", 5.21, 0.1316),
    QuantType("Q5_1", 5.65, 0.1062),
    QuantType("Q4_K_S", 4.37, 0.2689),
    QuantType("Q4_K_M", 4.58, 0.1754),
    QuantType("Q5_K_S", 5.21, 0.1049),
    QuantType("Q5_K_M", 5.33, 0.0569),
    QuantType("Q6_K", 6.14, 0.0217),
    QuantType("Q8_0", 7.96, 0.0026),
    QuantType("F16", None, 0.0020, bpw_override=16.0),
    QuantType("BF16", None, 0.0, bpw_override=16.0),
    QuantType("F32", None, 0.0, bpw_override=32.0),
    # MLX affine quantisation, group size 64 (scale + bias in fp16 per group). The quality cost is
    # taken as that of the closest llama.cpp type (Q4_0 ~ 4.5 bpw, Q8_0 ~ 8.5 bpw).
    QuantType("mlx-4bit", None, 0.4685, bpw_override=4.5),
    QuantType("mlx-8bit", None, 0.0026, bpw_override=8.5),
    # BitNet b1.58 i2_s: 2 bits per ternary weight.
    QuantType("I2_S", None, 0.0, bpw_override=2.0),
)}

# Quality points taken off a model's score per unit of perplexity increase. At 10, Q4_K_M costs
# ~1.8 points and Q8_0 nothing visible: a model one size up at Q4_K_M still outranks the smaller
# one at Q8_0 (a typical size step is worth 5-15 MMLU points), which is the common advice.
QUALITY_POINTS_PER_PPL = 10.0


def quant(name: str) -> QuantType:
    try:
        return QUANTS[name]
    except KeyError:
        raise KeyError(f"unknown quantisation type {name!r}") from None


def estimated_file_bytes(params_b: float, quant_name: str) -> int:
    return int(params_b * 1e9 * quant(quant_name).bits_per_weight / 8)


def quality_after_quant(score: float, quant_name: str) -> float:
    return score - QUALITY_POINTS_PER_PPL * quant(quant_name).ppl_delta
