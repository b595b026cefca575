"""Inference backends (llama.cpp, MLX; cloud next) behind app.core.inference, and the host that owns loaded models."""
