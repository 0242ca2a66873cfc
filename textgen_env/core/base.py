"""What every episode core shares: the episode state, the pair draws, starting episodes, and reads.

A core runs ``num_envs`` episodes of one :class:`~textgen_env.task.TextTask`
together. It owns all of their state (:class:`~textgen_env.core.types.Episodes`)
and each env's random generator for drawing pairs, and it answers three calls:
:meth:`EpisodeCore.seed`, :meth:`EpisodeCore.start` and
:meth:`EpisodeCore.step`. The envs never touch the state's rules: the single env
drives a core with one episode, the vector env with ``num_envs``, and each only
translates to Gymnasium (spaces, infos, autoreset, copies).

Subclasses keep the edit-distance state and write :meth:`EpisodeCore.step`:
:class:`~textgen_env.core.numpy_core.NumpyCore` (the reference) and
:class:`~textgen_env.core.numba_core.NumbaCore` (the compiled build).
"""

from __future__ import annotations

import numpy as np
from gymnasium.utils import seeding

from textgen_env.core.types import Episodes, Pairs, StepOutput, StepRules
from textgen_env.memory import check_allocation
from textgen_env.rewards import similarity, similarity_from_distance
from textgen_env.task import TARGET_PAD, TextTask
from textgen_env.tokenizers import EOS_ID, PAD_ID, UNK_ID

# Pairs drawn ahead per env, so that an autoreset picks its pair with no Python loop; each
# env's block is refilled from its own generator, with exactly the draws that the single env
# makes one reset at a time (``Generator.random(k)`` gives the values of k calls of ``random()``).
DRAWS_PER_REFILL = 64


def take_draws(envs, episodes) -> np.ndarray:
    """The next drawn pair of each env in `envs`, consumed (the caller refills a buffer used up).

    One of the episode rules that both builds run from this definition: as written (numpy) here, compiled
    inside the compiled core's step. `episodes` is an :class:`Episodes` or the same plain tuple."""
    next_pairs, draw_position = episodes[9], episodes[10]
    positions = draw_position[envs]
    draw_position[envs] = positions + 1
    return next_pairs.reshape(-1)[envs * next_pairs.shape[1] + positions]


def start_episodes(envs, chosen, pairs, episodes) -> None:
    """Env ``envs[k]`` begins pair ``chosen[k]`` of `pairs`: its prompt, target and scale, nothing generated yet.

    The episode start, written once: :meth:`EpisodeCore.start` runs it as written (numpy) for resets, and the
    compiled core compiles it for its autoresets. `pairs` / `episodes` are :class:`Pairs` / :class:`Episodes` or the
    same plain tuples; the edit-distance state is the caller's (``start_distances``)."""
    pair_prompts, pair_targets, pair_target_lengths, pair_scales = pairs[0], pairs[1], pairs[2], pairs[3]
    pair, prompts, generated, lengths, elapsed, targets, target_lengths, scales, potential = episodes[:9]
    pair[envs] = chosen
    prompts[envs] = pair_prompts[chosen]
    targets[envs] = pair_targets[chosen]
    target_lengths[envs] = pair_target_lengths[chosen]
    scales[envs] = pair_scales[chosen]
    generated[envs] = PAD_ID
    lengths[envs] = 0
    elapsed[envs] = 0
    potential[envs] = 0.0


def check_seed(seed) -> None:
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed={seed!r}: must be None or a non-negative integer")


def out_of_range(actions: np.ndarray, vocab_size: int) -> ValueError:
    """The error for actions outside ``Discrete(vocab_size)``, naming them and their envs."""
    bad = (actions < 0) | (actions >= vocab_size)
    return ValueError(f"actions {actions[bad].tolist()} (envs {bad.nonzero()[0].tolist()}) are outside Discrete({vocab_size})")


class EpisodeCore:
    """``num_envs`` episodes of `task`: state, pair draws, :meth:`start` and :meth:`step`."""

    name = ""
    checks_action_range = False  # whether step() itself refuses actions outside the vocabulary

    def __init__(self, task: TextTask, num_envs: int, max_episode_steps: int | None = None):
        self.task, self.num_envs, self.metric = task, num_envs, task.metric
        n, dtype = num_envs, task.token_dtype
        per_env = task.max_prompt_tokens + task.max_new_tokens * (np.dtype(dtype).itemsize + 4 + 4) + 128
        check_allocation(
            n * per_env,
            "the episodes' state",
            f"num_envs={n}, max_new_tokens={task.max_new_tokens} (per env, about {per_env} bytes)",
        )
        self.rules = StepRules(
            task.rules.action_mask_table,
            task.max_new_tokens,
            max_episode_steps or 0,
            self.metric.substitution_cost or 0,
            task.reward.dense,
            np.array(task.reward.terminal_weights, dtype=np.float64),
            EOS_ID,
            UNK_ID,
        )
        self.pairs = Pairs(task.prompt_matrix, task.target_matrix, task.target_lengths, task.pair_scales, self.match_masks())
        self.state = Episodes(
            pair=np.zeros(n, dtype=np.int64),
            prompts=np.zeros((n, task.max_prompt_tokens), dtype=dtype),
            generated=np.zeros((n, task.max_new_tokens), dtype=dtype),
            lengths=np.zeros(n, dtype=np.int64),
            elapsed=np.zeros(n, dtype=np.int64),
            targets=np.full((n, task.max_new_tokens), TARGET_PAD, dtype=np.int32),
            target_lengths=np.zeros(n, dtype=np.int64),
            scales=np.ones(n),
            potential=np.zeros(n),
            next_pairs=np.zeros((n, DRAWS_PER_REFILL), dtype=np.int64),
            draw_position=np.zeros(n, dtype=np.int64),
        )
        self.generators: list[np.random.Generator] = []
        self.custom_pair: tuple[list[int], list[int]] | None = None  # (prompt, target) set by reset options: pair -1

    def match_masks(self) -> np.ndarray:
        """The compiled core's look-up table of target positions; none for the others."""
        return np.zeros((0, 0, 0), dtype=np.uint64)

    # -- pair draws ---------------------------------------------------------------------

    @property
    def seeded(self) -> bool:
        return bool(self.generators)

    def seed(self, seed, envs: np.ndarray | None = None) -> None:
        """Seed each env's generator: ``seed + i`` for an integer, or one seed per env from a list
        (only those of `envs`, where given, as ``SyncVectorEnv`` seeds the envs a ``reset_mask`` resets)."""
        n = self.num_envs
        if seed is None:
            seeds = [None] * n
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
            check_seed(seed)
            seeds = [int(seed) + i for i in range(n)]
        elif isinstance(seed, (list, tuple, np.ndarray)):
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"seed list has {len(seeds)} entries; num_envs={n}")
            for s in seeds:
                check_seed(s)
        else:
            raise ValueError(f"seed={seed!r}: must be None, a non-negative integer, or a list of {n} of them")
        envs = np.arange(n) if envs is None else envs
        if not self.generators:
            self.generators = [None] * n
        for i in envs.tolist():
            self.generators[i] = seeding.np_random(seeds[i])[0]
        self.state.draw_position[envs] = DRAWS_PER_REFILL
        self.refill_used_up(envs)

    def take_draws(self, envs: np.ndarray) -> np.ndarray:
        """The next drawn pair of each env in `envs`, consumed."""
        pairs = take_draws(envs, self.state)
        self.refill_used_up(envs)
        return pairs

    def refill_used_up(self, envs: np.ndarray) -> None:
        state = self.state
        for i in envs[state.draw_position[envs] >= DRAWS_PER_REFILL].tolist():
            state.next_pairs[i] = self.task.draw_indices(self.generators[i].random(DRAWS_PER_REFILL))
            state.draw_position[i] = 0

    # -- episodes -------------------------------------------------------------------------

    def start(self, envs: np.ndarray, pairs: np.ndarray | None = None) -> None:
        """Begin pair ``pairs[k]`` in env ``envs[k]``: the next drawn pair of each where `pairs` is None,
        and the pair set by :attr:`custom_pair` where it is -1."""
        if pairs is None:
            pairs = self.take_draws(envs)
        custom = pairs < 0
        start_episodes(envs[~custom], pairs[~custom], self.pairs, self.state)
        if custom.any():
            prompt, target = self.custom_pair
            targets = np.full((1, self.task.max_new_tokens), TARGET_PAD, dtype=np.int32)
            targets[0, : len(target)] = target
            scale = np.array([self.metric.scale(len(target))])
            one_pair = (self.task.pad_prompts([prompt]), targets, np.array([len(target)]), scale)
            start_episodes(envs[custom], np.zeros(int(custom.sum()), dtype=np.int64), one_pair, self.state)
            self.state.pair[envs[custom]] = -1
        self.start_distances(envs)

    def start_distances(self, envs: np.ndarray) -> None:
        """Fresh edit-distance state for `envs`, whose targets were just set."""
        raise NotImplementedError

    def step(self, actions: np.ndarray, resetting: np.ndarray) -> StepOutput:
        """One step of every env: those in `resetting` begin their next drawn pair (and report the
        distance of an empty generation), the others take their action (int64, inside the vocabulary)."""
        raise NotImplementedError

    def distances(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Each env's distance between its generation so far and its target (at least those in `mask`)."""
        raise NotImplementedError

    # -- reads ------------------------------------------------------------------------------

    def action_masks(self) -> np.ndarray:
        """(num_envs, vocab_size) boolean mask of the valid actions."""
        return self.task.rules.action_masks(self.state.lengths)

    def generated_ids(self, i: int) -> list[int]:
        return self.state.generated[i, : self.state.lengths[i]].tolist()

    def prompt_ids(self, i: int) -> list[int]:
        pair = self.state.pair[i]
        return self.custom_pair[0] if pair < 0 else self.task.prompt_ids[pair]

    def target_ids(self, i: int) -> list[int]:
        pair = self.state.pair[i]
        return self.custom_pair[1] if pair < 0 else self.task.target_ids[pair]

    def target_text(self, i: int) -> str:
        pair = self.state.pair[i]
        if pair >= 0:
            return self.task.target_texts[pair]
        return self.task.tokenizer.decode([t if t >= 0 else UNK_ID for t in self.custom_pair[1]])

    def final_similarities(self, ended: np.ndarray, distances: np.ndarray) -> np.ndarray:
        """The similarity of each episode in `ended`, 0 elsewhere (from the distances for Levenshtein)."""
        state = self.state
        if self.metric.name == "levenshtein":
            return np.where(ended, similarity_from_distance(distances, state.lengths, state.target_lengths), 0.0)
        values = np.zeros(len(ended))
        for i in ended.nonzero()[0].tolist():
            values[i] = similarity(self.generated_ids(i), self.target_ids(i))
        return values
