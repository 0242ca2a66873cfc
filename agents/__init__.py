"""Reference agents for TextGeneration-v0: REINFORCE, A2C and PPO on one LSTM-attention policy.

- ``agents.load(checkpoint)`` gives a trained policy with its tokenizer and env config;
  ``agents.generate(checkpoint_or_policy, prompts, **decoding)`` writes texts with it.
- ``agents.ALGORITHMS`` maps names to the algorithms (``agents.registry``).

The names below are imported when first used, so that ``import agents`` (and the
command line's ``--help``) need not load torch.
"""

import importlib

_WHERE = {
    "ALGORITHMS": "agents.registry",
    "ActorCritic": "agents.model.policy",
    "DecodingConfig": "agents.model.config",
    "EnvConfig": "agents.runs.config",
    "LoadedPolicy": "agents.inference",
    "PolicyConfig": "agents.model.config",
    "TrainConfig": "agents.runs.config",
    "generate": "agents.inference",
    "load": "agents.inference",
    "resume": "agents.registry",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)


def __dir__():
    return __all__
