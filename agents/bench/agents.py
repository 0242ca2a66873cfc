"""The agents a benchmark drives, behind one small interface (:class:`BenchAgent`): ours, Stable-Baselines3's
through adapters, untrained baselines, and any class named as ``module:Class``."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Protocol, runtime_checkable

import numpy as np

from agents.runs.config import EnvConfig
from textgen_env.aliases import renamed_attributes
from textgen_env.task import TextTask
from textgen_env.tokenizers import EOS_ID


@runtime_checkable
class BenchAgent(Protocol):
    """What the harness needs from an agent."""

    def setup(self, env_kwargs: dict, seed: int, budget: int) -> None:
        """Prepare to learn `TextGeneration-v0(**env_kwargs, split="train")` within `budget` env steps."""

    def train(self, env_steps: int) -> int:
        """Train for about `env_steps` more env steps; return the env steps used so far."""

    def generate(self, prompts: list[str]) -> list[str]:
        """Greedy generations for `prompts`."""


class ReferenceAgent:
    """One of our algorithms (reinforce, a2c, ppo) as a BenchAgent; `overrides` set config fields."""

    DEFAULTS = {"ppo": {}, "a2c": {"num_envs": 256}, "reinforce": {"num_envs": 256}}  # beyond each config's defaults

    def __init__(self, algorithm: str, **overrides):
        from agents.registry import RL_ALGORITHMS

        self.algorithm_class = RL_ALGORITHMS[algorithm]
        self.overrides = {**self.DEFAULTS[algorithm], **overrides}

    def setup(self, env_kwargs: dict, seed: int, budget: int) -> None:
        values = {k: v for k, v in env_kwargs.items() if v is not None}
        env = EnvConfig(**values)
        config = self.algorithm_class.config_class(env=env, seed=seed, total_env_steps=budget, **self.overrides)
        self.algorithm = self.algorithm_class(config)

    def train(self, env_steps: int) -> int:
        self.algorithm.learn(until=self.algorithm.env_steps + env_steps)
        return self.algorithm.env_steps

    def generate(self, prompts: list[str]) -> list[str]:
        from agents.model.decoding import generate_texts

        return generate_texts(self.algorithm.policy, self.algorithm.task.tokenizer, self.algorithm.task.rules, prompts)


class StableBaselinesAgent:
    """Stable-Baselines3's PPO or A2C, or sb3-contrib's MaskablePPO, with MultiInputPolicy and default settings."""

    def __init__(self, algorithm: str, n_envs: int = 8):
        self.algorithm, self.n_envs = algorithm, n_envs

    def setup(self, env_kwargs: dict, seed: int, budget: int) -> None:
        from stable_baselines3.common.env_util import make_vec_env

        from textgen_env.env import TextGenerationEnv

        if self.algorithm == "MaskablePPO":
            from sb3_contrib import MaskablePPO as algorithm_class
        else:
            import stable_baselines3

            algorithm_class = getattr(stable_baselines3, self.algorithm)
        venv = make_vec_env("TextGeneration-v0", n_envs=self.n_envs, seed=seed, env_kwargs={**env_kwargs, "split": "train"})
        self.model = algorithm_class("MultiInputPolicy", venv, seed=seed, verbose=0)
        self.writer = TextGenerationEnv(**{**env_kwargs, "split": "all"})  # writes for any prompt, scored by the harness
        self.masked = self.algorithm == "MaskablePPO"

    def train(self, env_steps: int) -> int:
        self.model.learn(env_steps, reset_num_timesteps=False)
        return int(self.model.num_timesteps)

    def generate(self, prompts: list[str]) -> list[str]:
        texts = []
        for prompt in prompts:
            obs, _ = self.writer.reset(options={"prompt": prompt, "target": ""})
            done = False
            while not done:
                extra = {"action_masks": self.writer.action_masks()} if self.masked else {}
                action, _ = self.model.predict(obs, deterministic=True, **extra)
                obs, _, done, _, _ = self.writer.step(int(action))
            texts.append(self.writer.generated_text())
        return texts


class CopyPromptAgent:
    """The copy-the-input baseline: writes the prompt back, untrained."""

    def setup(self, env_kwargs: dict, seed: int, budget: int) -> None:
        self.used = 0

    def train(self, env_steps: int) -> int:
        self.used += env_steps  # nothing to learn: the budget is only counted
        return self.used

    def generate(self, prompts: list[str]) -> list[str]:
        return list(prompts)


class RandomAgent(CopyPromptAgent):
    """The random baseline: valid tokens drawn uniformly, EOS among them, untrained."""

    def setup(self, env_kwargs: dict, seed: int, budget: int) -> None:
        super().setup(env_kwargs, seed, budget)
        self.task = TextTask(**{**env_kwargs, "split": "all"})
        self.rng = np.random.default_rng(seed)

    def generate(self, prompts: list[str]) -> list[str]:
        rules, texts = self.task.rules, []
        for _ in prompts:
            ids = []
            for step in range(rules.max_new_tokens):
                token = int(self.rng.choice(np.flatnonzero(rules.action_mask_table[step])))
                if token == EOS_ID:
                    break
                ids.append(token)
            texts.append(self.task.tokenizer.decode(ids))
        return texts


EXTRAS = {"sb3-ppo": "sb3", "sb3-a2c": "sb3", "sb3-maskable-ppo": "sb3"}
BUILTIN_AGENTS = {
    "ours-ppo": lambda: ReferenceAgent("ppo"),
    "ours-ppo-curriculum": lambda: ReferenceAgent("ppo", curriculum=True),
    "ours-a2c": lambda: ReferenceAgent("a2c"),
    "ours-reinforce": lambda: ReferenceAgent("reinforce"),
    "sb3-ppo": lambda: StableBaselinesAgent("PPO"),
    "sb3-a2c": lambda: StableBaselinesAgent("A2C"),
    "sb3-maskable-ppo": lambda: StableBaselinesAgent("MaskablePPO"),
    "copy-prompt": CopyPromptAgent,
    "random": RandomAgent,
}
BASELINE_AGENTS = ("copy-prompt", "random")  # agents that learn nothing: the bars a trained agent must clear
__getattr__ = renamed_attributes(__name__, {"BASELINES": "BASELINE_AGENTS"}, globals())


def agent_available(name: str) -> bool:
    if name not in EXTRAS:
        return True
    try:
        importlib.import_module("stable_baselines3")
        importlib.import_module("sb3_contrib")
    except ImportError:
        return False
    return True


def make_agent(name: str) -> BenchAgent:
    """A built-in agent by name, or `module:Class` for your own (found in the current folder too)."""
    if name in BUILTIN_AGENTS:
        if not agent_available(name):
            raise ValueError(f"agent {name!r} needs the '{EXTRAS[name]}' extra: pip install 'textgen-env[{EXTRAS[name]}]'")
        return BUILTIN_AGENTS[name]()
    if ":" in name:
        module, _, attribute = name.partition(":")
        if os.getcwd() not in sys.path:  # as `python -m` does, so a module beside the user's data is found
            sys.path.insert(0, os.getcwd())
        try:
            agent = getattr(importlib.import_module(module), attribute)()
        except (ImportError, AttributeError) as e:
            raise ValueError(f"agent {name!r}: cannot load it ({e})") from None
        if not isinstance(agent, BenchAgent):
            raise ValueError(f"agent {name!r} lacks setup/train/generate (see agents.bench.BenchAgent)")
        return agent
    raise ValueError(f"agent {name!r}: allowed are {sorted(BUILTIN_AGENTS)} or 'module:Class'")
