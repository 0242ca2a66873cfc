"""Safe, self-contained checkpoints: written atomically, loaded without unpickling arbitrary objects.

:class:`Checkpoint` is the record; on disk it is a ``torch.save`` of plain
containers only (tensors, numbers, strings, lists, dicts), read back with
``torch.load(weights_only=True)``, which refuses pickled objects. It holds
everything needed to continue or use the run without its data: the config (the env
config nested), the tokenizer (its whole vocabulary, or a Hugging Face tokenizer's
JSON), the episode rules, the held-out pairs of a dataset file, the policy and
optimizer state, the RNG states and the progress so far.

It is written to a temporary file beside it and renamed into place, so a crash
never leaves a half-written checkpoint; temporary files that a killed write left
behind are removed at the next save. Every field is checked when it is read: a
truncated or crafted file gives a :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from agents.model.config import PolicyConfig
from agents.model.policy import ActorCritic
from agents.runs.errors import CheckpointError
from textgen_env.task import EpisodeRules
from textgen_env.tokenizers import Tokenizer, tokenizer_from_dict

FORMAT = "textgen-rl-checkpoint"
# 7: the policy config says whether the encoder also reads prompts from their end (earlier policies do not); where a
#    run keeps an average of its weights, 'policy' holds the average (the weights to use) and 'training_policy' the
#    optimizer's own; 'data_files' holds the content digest of each data file a run reads (by absolute path);
# 6: position features score the decoder step against prompt positions in the attention (version 5's were added to
#    the encoder states: a version 5 policy with them does not fit, one without them reads as it is);
# 5: the policy config says whether the encoder adds position features (version 4 policies have none: read as False);
# 4: the episode rules (vocabulary, prompt width, token limits) as one record; the env config nested in the run config;
# 3: self-contained (tokenizer, env config, held-out pairs) and the algorithm's state under its own key;
# 2: the policy's encoder LSTM has no biases, so version 1 weights do not fit.
VERSION = 7
READABLE_VERSIONS = (4, 5, 6, 7)
JSON_FIELDS = {  # stored as JSON text: plain values that torch's safe loader need not know
    "config": dict,
    "tokenizer": dict,
    "policy_config": dict,
    "rules": dict,
    "history": list,
    "algorithm_state": dict,
    "heldout": (list, type(None)),
    "data_files": dict,
}
OPTIONAL_FIELDS = {"data_files": "{}"}  # absent from earlier versions


@dataclass
class Checkpoint:
    """Everything a run leaves behind, checked field by field when it is read.

    ``config`` is the run config as a dict (its ``env`` nested), ``rules`` the episode
    rules the policy trained under, ``policy`` its weights; the training state
    (``optimizer``, ``rng``, ``algorithm_state``, ``reference_policy``, ``training_policy``) is what a resumed
    run needs, and is absent from an exported policy (RLlib's, say).
    """

    algorithm: str
    config: dict
    tokenizer: Tokenizer
    policy_config: dict
    rules: EpisodeRules
    policy: dict  # the weights to use
    iteration: int = 0
    env_steps: int = 0
    history: list = field(default_factory=list)
    heldout: list | None = None  # the test split of a dataset file, so that it evaluates without the file
    data_files: dict = field(default_factory=dict)  # {absolute path: content digest} of the files the data came from
    optimizer: dict = field(default_factory=dict)
    reference_policy: dict = field(default_factory=dict)
    training_policy: dict = field(default_factory=dict)  # the optimizer's weights, where 'policy' is their average
    rng: dict = field(default_factory=dict)
    algorithm_state: dict = field(default_factory=dict)

    # -- writing ---------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically to `path`; on failure the previous checkpoint there is left intact."""
        to_dict = getattr(self.tokenizer, "to_dict", None)
        if to_dict is None:
            raise CheckpointError(f"tokenizer {self.tokenizer!r} has no to_dict(): a checkpoint must hold its tokenizer")
        texts = {
            "config": self.config,
            "tokenizer": to_dict(),
            "policy_config": self.policy_config,
            "rules": self.rules.to_dict(),
            "history": self.history,
            "algorithm_state": self.algorithm_state,
            "heldout": self.heldout,
            "data_files": self.data_files,
        }
        payload = {
            "algorithm": self.algorithm,
            **{key: json.dumps(value) for key, value in texts.items()},
            "policy": _on_cpu(self.policy),
            "reference_policy": _on_cpu(self.reference_policy),
            "training_policy": _on_cpu(self.training_policy),
            "optimizer": self.optimizer,
            "rng": self.rng,
            "iteration": self.iteration,
            "env_steps": self.env_steps,
        }
        return _write_atomically(Path(path), {"format": FORMAT, "version": VERSION, **payload})

    # -- reading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike) -> Checkpoint:
        """Read and check a checkpoint: a :class:`CheckpointError` naming the file and the field for anything off."""
        path = Path(path)
        data = {**OPTIONAL_FIELDS, **_read(path)}
        for key in ("algorithm", "policy", "iteration", "env_steps", *JSON_FIELDS):
            if key not in data:
                raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
        if not isinstance(data["algorithm"], str):
            raise CheckpointError(f"{path}: 'algorithm' must be a string, got {data['algorithm']!r}")
        for key in ("iteration", "env_steps"):
            if isinstance(data[key], bool) or not isinstance(data[key], int) or data[key] < 0:
                raise CheckpointError(f"{path}: {key!r} must be an integer >= 0, got {data[key]!r}")
        parsed = {}
        for key, kind in JSON_FIELDS.items():
            try:
                parsed[key] = json.loads(data[key])
            except (TypeError, ValueError) as e:
                raise CheckpointError(f"{path}: {key!r} is not JSON text ({_reason(e)})") from None
            if not isinstance(parsed[key], kind):
                raise CheckpointError(f"{path}: {key!r} has the wrong shape ({type(parsed[key]).__name__})")
        for described in (parsed["policy_config"], parsed["config"].get("policy")):
            if isinstance(described, dict) and data["version"] < 7:  # earlier encoders read prompts one way only
                described.setdefault("bidirectional", False)
            if isinstance(described, dict) and data["version"] == 4:  # its policy predates position features
                described.setdefault("position_features", False)
        if data["version"] == 5 and parsed["policy_config"].get("position_features"):
            raise CheckpointError(
                f"{path}: a version 5 policy with position features (added to the encoder states); this code's"
                " position features are attention scores, which its weights do not fit: train it again"
            )
        for key in ("policy", "reference_policy", "training_policy"):
            weights = data.get(key, {})
            if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
                raise CheckpointError(f"{path}: {key!r} must map parameter names to tensors")
        for key in ("optimizer", "rng"):
            if not isinstance(data.get(key, {}), dict):
                raise CheckpointError(f"{path}: {key!r} must be a dict, got {type(data[key]).__name__}")
        if parsed["heldout"] is not None and not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(t, str) for t in p) for p in parsed["heldout"]
        ):
            raise CheckpointError(f"{path}: 'heldout' must be a list of [prompt, target] strings")
        try:
            tokenizer = tokenizer_from_dict(parsed.pop("tokenizer"))
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"{path}: its tokenizer does not load ({e})") from None
        try:
            rules = EpisodeRules.from_dict(parsed.pop("rules"))
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"{path}: 'rules' {e}") from None
        vocab_size = parsed["policy_config"].get("vocab_size")
        if not vocab_size == tokenizer.vocab_size == rules.vocab_size:
            raise CheckpointError(
                f"{path}: the policy's vocab_size {vocab_size!r} does not match its tokenizer's {tokenizer.vocab_size}"
                f" and its rules' {rules.vocab_size}"
            )
        return cls(
            algorithm=data["algorithm"],
            tokenizer=tokenizer,
            rules=rules,
            policy=data["policy"],
            iteration=data["iteration"],
            env_steps=data["env_steps"],
            optimizer=data.get("optimizer", {}),
            reference_policy=data.get("reference_policy", {}),
            training_policy=data.get("training_policy", {}),
            rng=data.get("rng", {}),
            **parsed,
        )

    def make_policy(self, path, device: torch.device | str = "cpu") -> ActorCritic:
        """The checkpoint's policy on `device` (weights checked against its recorded size and heads)."""
        described = dict(self.policy_config)
        vocab_size = described.pop("vocab_size")
        try:
            policy = ActorCritic(vocab_size, PolicyConfig(**described))
        except TypeError as e:
            raise CheckpointError(f"{path}: its weights do not fit the policy it describes ({_reason(e)})") from None
        return self.load_into(policy, path).to(device)

    def load_into(self, policy: ActorCritic, path, weights: dict | None = None) -> ActorCritic:
        """`weights` (default: the checkpoint's policy) loaded into `policy`, which must be the policy it describes."""
        if self.policy_config != policy.describe():
            raise CheckpointError(f"{path}: policy {self.policy_config} does not match this config's {policy.describe()}")
        try:
            policy.load_state_dict(self.policy if weights is None else weights)
        except RuntimeError as e:
            raise CheckpointError(f"{path}: its weights do not fit the policy it describes ({_reason(e)})") from None
        return policy


def _on_cpu(state: dict) -> dict:
    return {k: v.detach().cpu() for k, v in state.items()}


def _write_atomically(path: Path, data: dict) -> Path:
    """``torch.save`` to a temporary file beside `path`, then rename; temporary files of killed writes are removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f"{path.name}.*.tmp"):  # left by a write that was killed
        stale.unlink(missing_ok=True)
    tmp = path.parent / f"{path.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, (OSError, RuntimeError)):  # torch reports a full disk as a RuntimeError of its writer
            kept = f"; the previous checkpoint {path} is intact" if path.exists() else ""
            reason = e.strerror if isinstance(e, OSError) and e.strerror else _reason(e)
            raise CheckpointError(f"{path}: could not write the checkpoint ({reason}){kept}") from None
        raise
    return path


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else type(error).__name__


def _read(path: Path) -> dict:
    """The raw dict of a checkpoint file, read without unpickling objects; format and version checked."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the checkpoint file is empty (0 bytes)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "GLOBAL" not in str(e) and "global" not in str(e):
            raise CheckpointError(f"{path}: not a readable textgen-rl checkpoint ({_reason(e)})") from None
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        raise CheckpointError(
            f"{path}: holds pickled Python objects{f' ({found.group(1)})' if found else ''}, which a textgen-rl"
            " checkpoint never contains; the file may be malicious (unpickling it can run any code), and it was not loaded"
        ) from None
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable textgen-rl checkpoint ({_reason(e)})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a textgen-rl checkpoint (format {FORMAT!r} expected)")
    if data.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path}: checkpoint version {data.get('version')!r}; this code reads versions {list(READABLE_VERSIONS)}"
            " (retrain, or use the textgen-env release that wrote it)"
        )
    return data
