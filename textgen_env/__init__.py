"""textgen-env: learn to write text by trial and reward, as a Gymnasium environment.

``import textgen_env`` registers ``TextGeneration-v0``; ``gym.make`` gives the single
env and ``gym.make_vec`` the native batched one.

Where things live:

- ``env.py``, ``vector.py``: the single env and the batched one.
- ``task.py``: :class:`TaskConfig`, the env's arguments; :class:`TextTask`, the resolved task both envs share; and
  :class:`EpisodeRules`: the episode rules (valid actions, pair draws, score scales).
- ``rewards.py``: the reward-mode table and the metrics.
- ``core/``: the batched episode core both envs drive (a numpy reference, a numba build).
- ``tokenizers.py``, ``datasets.py`` (user files, splits), ``builtin_tasks.py`` (the built-in
  task suite), ``rendering.py``.
- ``trl.py`` (edit-distance reward functions for TRL), ``hf.py`` (tasks as Hugging Face
  datasets), ``completions.py`` (any model's completions scored): the ``llm`` extra's side.
"""

from gymnasium.envs.registration import register, registry

from textgen_env.builtin_tasks import TASKS, corpus_sentences, make_task
from textgen_env.datasets import TextDataset, TextPair, load_pairs
from textgen_env.env import TextGenerationEnv
from textgen_env.hf import to_hf_dataset
from textgen_env.rewards import METRICS, REWARD_MODES, Metric
from textgen_env.task import UNMATCHABLE, EpisodeRules, TaskConfig, TextTask
from textgen_env.tokenizers import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    CharTokenizer,
    HuggingFaceTokenizer,
    Tokenizer,
    WordTokenizer,
    load_tokenizer,
    tokenizer_from_dict,
)
from textgen_env.vector import TextGenerationVectorEnv

__version__ = "0.2.0"

ENV_ID = "TextGeneration-v0"

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="textgen_env.env:TextGenerationEnv",
        vector_entry_point="textgen_env.vector:TextGenerationVectorEnv",
    )

__all__ = [
    "BOS_ID",
    "ENV_ID",
    "EOS_ID",
    "METRICS",
    "PAD_ID",
    "REWARD_MODES",
    "TASKS",
    "UNK_ID",
    "UNMATCHABLE",
    "CharTokenizer",
    "EpisodeRules",
    "HuggingFaceTokenizer",
    "Metric",
    "TextDataset",
    "TextGenerationEnv",
    "TextGenerationVectorEnv",
    "TaskConfig",
    "TextPair",
    "TextTask",
    "Tokenizer",
    "WordTokenizer",
    "corpus_sentences",
    "load_pairs",
    "load_tokenizer",
    "make_task",
    "to_hf_dataset",
    "tokenizer_from_dict",
]
