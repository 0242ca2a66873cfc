"""Reference agents for TextGeneration-v0: REINFORCE, A2C and PPO on one LSTM-attention policy.

- ``agents.load(checkpoint)`` gives a trained policy with its tokenizer and env config;
  ``agents.generate(checkpoint_or_policy, prompts, **decoding)`` writes texts with it.
- ``agents.ALGORITHMS`` maps names to the algorithms (``agents.registry``).
"""

from agents.inference import LoadedPolicy, generate, load
from agents.model.decoding import DecodingConfig
from agents.model.policy import ActorCritic, PolicyConfig
from agents.registry import ALGORITHMS, resume
from agents.runs.config import EnvConfig, TrainConfig

__all__ = [
    "ALGORITHMS",
    "ActorCritic",
    "DecodingConfig",
    "EnvConfig",
    "LoadedPolicy",
    "PolicyConfig",
    "TrainConfig",
    "generate",
    "load",
    "resume",
]
