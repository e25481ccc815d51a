"""The workload fingerprint: one hash over the config, the token tensors and the initial weights.

Two results with the same fingerprint measured exactly the same work; it does not depend on the
device, the preset or the time of the run.
"""

from __future__ import annotations

import hashlib
import json

import torch
from torch import nn

from tweetbench.config import OPEN_SUFFIX, WorkloadConfig
from tweetbench.workload.dataset import TweetData


def _update_tensor(digest: "hashlib._Hash", name: str, tensor: torch.Tensor) -> None:
    tensor = tensor.detach().to("cpu").contiguous()
    digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
    digest.update(tensor.numpy().tobytes())


def workload_fingerprint(workload: WorkloadConfig, data: TweetData, model: nn.Module) -> str:
    """``sha256:<hex>`` over the workload config, every split's tensors and the model's initial weights.

    The division is not part of the work: the hash leaves it out, and an open variant's fingerprint is
    the closed one's with ``+open`` after it (so closed fingerprints are what they were before divisions).
    """
    digest = hashlib.sha256()
    config = workload.to_dict()
    config.pop("division", None)
    config["name"] = workload.name.removesuffix(OPEN_SUFFIX)
    digest.update(json.dumps(config, sort_keys=True).encode())
    digest.update(json.dumps(list(data.authors)).encode())
    for split_name in ("train", "val", "test"):
        split = getattr(data, split_name)
        _update_tensor(digest, f"{split_name}.tokens", split.tokens)
        _update_tensor(digest, f"{split_name}.labels", split.labels)
    for name, tensor in sorted(model.state_dict().items()):
        _update_tensor(digest, f"weight.{name}", tensor)
    suffix = OPEN_SUFFIX if workload.division == "open" else ""
    return f"sha256:{digest.hexdigest()}{suffix}"
