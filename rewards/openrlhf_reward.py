"""OpenRLHF's Python remote reward function: give OpenRLHF this file's path as its remote
reward URL, and it scores every rollout in-process with `rewards.score`::

    python -m openrlhf.cli.train_ppo_ray ... --data.label_key label \
        --reward.remote_url "$(python -c 'import rewards.openrlhf_reward as m; print(m.__file__)')"

(OpenRLHF before 0.10 calls the flag ``--remote_rm_url``.) OpenRLHF loads the file and
calls ``reward_func(queries, prompts, labels)``; each query (prompt + response, decoded
with special tokens) and its label are read exactly as the HTTP server's ``/get_reward``
reads them (`rewards.schema.parse_reward_request`): a label is the dataset's tests in
any published format (`rewards.test_formats`), a reference program, an object
``{reference, tests, entry_point, language, code_prefix}``, a JSON string of one, or
empty; a sample that cannot be read scores as outcome ``invalid`` (the compile-error
value) and the others are scored. Settings come from the environment:

- ``PPOCODER_LANGUAGE``: language of labels that name none (it wins over a fence tag);
- ``PPOCODER_REWARD_CONFIG``: a JSON object of `rewards.RewardConfig` fields, e.g.
  ``{"use_dfg": false, "timeout_s": 20}``;
- ``PPOCODER_SPECIAL_TOKENS``: comma-separated special-token text that ends a response
  (default: `rewards.schema.SPECIAL_TOKENS`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from rewards.schema import SPECIAL_TOKENS, parse_reward_request, reward_answer, score_items


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]) -> dict[str, Any]:
    """``{"rewards": [...], "scores": [...], "extra_logs": {"execution", "ast", "dfg"}}``,
    the same answer as the server's ``/get_reward``."""
    tokens = os.environ.get("PPOCODER_SPECIAL_TOKENS")
    config = os.environ.get("PPOCODER_REWARD_CONFIG")
    request = {"query": list(queries), "prompts": list(prompts), "labels": list(labels),
               "config": json.loads(config) if config else None}
    samples, reward_config = parse_reward_request(
        request, os.environ.get("PPOCODER_LANGUAGE") or None,
        tuple(t for t in tokens.split(",") if t) if tokens is not None else SPECIAL_TOKENS)
    return reward_answer(score_items(samples, reward_config))
