"""textgen-env: learn to write text by trial and reward, as a Gymnasium environment.

``import textgen_env`` registers ``TextGeneration-v0``; ``gym.make`` gives the single
env and ``gym.make_vec`` the native batched one.
"""

from gymnasium.envs.registration import register, registry

from textgen_env.datasets import TextDataset, TextPair, load_pairs, make_task
from textgen_env.env import TextGenerationEnv
from textgen_env.rewards import METRICS, REWARD_MODES, Metric
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
)

__version__ = "0.1.0"

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
    "UNK_ID",
    "CharTokenizer",
    "HuggingFaceTokenizer",
    "Metric",
    "TextDataset",
    "TextGenerationEnv",
    "TextPair",
    "Tokenizer",
    "WordTokenizer",
    "load_pairs",
    "load_tokenizer",
    "make_task",
]
