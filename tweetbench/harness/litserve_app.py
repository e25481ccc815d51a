"""The LitServe server of the serve scenario: ``python -m tweetbench.harness.litserve_app SPEC.json PORT``.

It loads the trained model's weights (saved by the serve scenario), and serves ``POST /predict`` with a body
``{"tokens": [seq_len token ids]}``, answered ``{"class": id}``, with LitServe's own dynamic batching
(``max_batch_size``, ``batch_timeout``). A body that is not that (not JSON, a missing field, a wrong length, an
id outside the vocabulary) is refused with 422 by FastAPI's validation in the HTTP process, before it reaches
a batch: so one bad request never fails the good ones batched with it, and the server keeps serving.
It listens on 127.0.0.1 only, and ends its whole process group on SIGTERM (``harness/server.py``).
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

import litserve as ls
import torch
from pydantic import BaseModel, model_validator

# The request's limits, read once in each process from the environment the parent sets (the model class must
# be importable by name: LitServe pickles the request to its inference worker).
SEQ_LEN_ENV, VOCAB_ENV = "TWEETBENCH_SERVE_SEQ_LEN", "TWEETBENCH_SERVE_VOCAB"


class TweetRequest(BaseModel):
    """One tweet, as the model's token ids."""

    tokens: list[int]

    @model_validator(mode="after")
    def _shape(self) -> "TweetRequest":
        seq_len, vocab = int(os.environ.get(SEQ_LEN_ENV, "0")), int(os.environ.get(VOCAB_ENV, "0"))
        if seq_len and len(self.tokens) != seq_len:
            raise ValueError(f"tokens must hold {seq_len} ids, not {len(self.tokens)}")
        if vocab and any(not 0 <= token < vocab for token in self.tokens):
            raise ValueError(f"every token id must lie in [0, {vocab})")
        return self


class TweetAPI(ls.LitAPI):
    """The model behind ``POST /predict``: one class id per tweet, batched by LitServe."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(max_batch_size=int(spec["max_batch_size"]), batch_timeout=float(spec["batch_timeout_s"]))
        self.settings = spec

    def setup(self, device: str) -> None:
        from tweetbench.config import WorkloadConfig
        from tweetbench.workload.model import build_model

        if self.settings.get("threads"):
            torch.set_num_threads(int(self.settings["threads"]))
        workload = dict(self.settings["workload"])
        workload["split"] = tuple(workload["split"])
        model = build_model(WorkloadConfig(**workload), int(self.settings["num_classes"]))
        model.load_state_dict(torch.load(self.settings["weights"], map_location="cpu", weights_only=True))
        self.device = device
        self.model = model.to(device).eval()

    def decode_request(self, request: TweetRequest) -> list[int]:
        return request.tokens

    def batch(self, inputs: list[list[int]]) -> Any:
        return torch.tensor(inputs, dtype=torch.long)

    def predict(self, x: Any) -> list[int]:
        with torch.inference_mode():
            return self.model(x.to(self.device)).argmax(dim=-1).cpu().tolist()

    def unbatch(self, output: list[int]) -> list[int]:
        return output

    def encode_response(self, output: int) -> dict[str, int]:
        return {"class": int(output)}


def main(argv: list[str]) -> int:
    # The class by its importable name (not __main__'s), so that LitServe's worker processes can unpickle it.
    from tweetbench.harness.litserve_app import TweetAPI as API
    from tweetbench.harness.server import LOOPBACK, end_group_on_sigterm

    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    os.environ[SEQ_LEN_ENV], os.environ[VOCAB_ENV] = str(spec["workload"]["seq_len"]), str(spec["vocab"])
    end_group_on_sigterm()
    # timeout=False: LitServe never drops a queued request (LoadGen waits for every answer; a dropped one would be
    # an error, not a latency). An overloaded run shows as LoadGen's INVALID instead.
    server = ls.LitServer(API(spec), accelerator=spec["accelerator"], devices=1, workers_per_device=1,
                          timeout=False, enable_shutdown_api=False,
                          fast_queue=bool(spec.get("fast_queue", True)))
    server.run(host=LOOPBACK, port=int(argv[1]), num_api_servers=1, log_level="warning",
               generate_client_file=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
