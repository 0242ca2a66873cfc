"""Collect batches of complete episodes from the native vector env, the policy in step mode."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from agents.model.policy import ActorCritic, select_actions
from textgen_env.tokenizers import BOS_ID


@dataclass
class EpisodeBatch:
    """One episode per env; (episodes, steps) tensors, `mask` marking the real steps."""

    prompts: torch.Tensor  # (N, P) long
    inputs: torch.Tensor  # (N, T) long: BOS, then the actions shifted by one
    actions: torch.Tensor  # (N, T) long
    action_masks: torch.Tensor  # (N, T, V) bool
    mask: torch.Tensor  # (N, T) bool
    rewards: torch.Tensor  # (N, T) float
    log_probs: torch.Tensor  # (N, T) float, from step mode at collection time
    values: torch.Tensor  # (N, T) float
    indices: np.ndarray  # (N,) dataset pair of each episode
    similarity: np.ndarray  # (N,) normalized Levenshtein similarity at the end
    distance: np.ndarray  # (N,) metric distance at the end
    exact: np.ndarray  # (N,) bool
    texts: list[str]

    @property
    def env_steps(self) -> int:
        return int(self.mask.sum())

    @property
    def episode_returns(self) -> torch.Tensor:
        return (self.rewards * self.mask).sum(dim=1)

    @property
    def lengths(self) -> torch.Tensor:
        """Each episode's real steps."""
        return self.mask.sum(dim=1)

    def select(self, rows) -> EpisodeBatch:
        """The episodes at `rows` (a tensor or array of indices), their steps cut at the longest one's end."""
        rows_np = rows.cpu().numpy() if isinstance(rows, torch.Tensor) else np.asarray(rows)
        steps = max(1, int(self.mask[rows].sum(dim=1).max()))
        picked = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                picked[f.name] = [value[i] for i in rows_np]
            else:
                picked[f.name] = value[rows][:, :steps] if f.name in STEP_COLUMNS else value[rows]
        return EpisodeBatch(**picked)


STEP_COLUMNS = ("inputs", "actions", "action_masks", "mask", "rewards", "log_probs", "values")  # (N, T, ...) each


@torch.no_grad()
def collect_episodes(policy: ActorCritic, env, indices: np.ndarray, greedy: bool = False) -> EpisodeBatch:
    """Run one episode in each env of `env` (a TextGenerationVectorEnv), on the pairs `indices`.

    The policy steps only the episodes still running: once one ends, its row leaves the policy's batch (its
    prompt's encoding and its decoder state with it), so a batch of short and long episodes costs what its
    live steps cost. The env steps every episode (Gymnasium's vector API), the finished ones with PAD, which
    no step of theirs records. The policy's tensors live on its device; the env steps on the CPU.
    """
    device = next(policy.parameters()).device
    n = env.num_envs
    obs, _ = env.reset(options={"index": np.asarray(indices)})
    prompts = torch.from_numpy(obs["prompt"]).to(device)
    memory = policy.encode(prompts)
    tokens = torch.full((n,), BOS_ID, dtype=torch.long, device=device)
    state = None
    live = torch.arange(n, device=device)  # the rows of the policy's batch: episodes still running
    alive = np.ones(n, dtype=bool)
    similarity, distance = np.zeros(n), np.zeros(n)
    final_generated = np.zeros_like(obs["generated"])
    columns = {k: [] for k in STEP_COLUMNS}
    for _ in range(env.task.max_new_tokens + 1):
        action_masks = torch.from_numpy(env.action_masks()).to(device)
        logits, values, state = policy.step(tokens[live], state, memory)
        actions, log_probs = select_actions(logits, action_masks[live], greedy)
        step_actions = torch.zeros(n, dtype=torch.long, device=device)  # PAD for the finished episodes
        step_actions[live] = actions
        next_obs, rewards, terminated, truncated, info = env.step(step_actions.cpu().numpy())
        chosen = torch.zeros(n, device=device)
        chosen[live] = log_probs.gather(1, actions[:, None])[:, 0]
        step_values = torch.zeros(n, device=device)
        step_values[live] = values
        step = (
            tokens,
            step_actions,
            action_masks,
            torch.from_numpy(alive.copy()).to(device),
            torch.from_numpy(rewards).float().to(device),
            chosen,
            step_values,
        )
        for key, value in zip(columns, step):
            columns[key].append(value)
        ended = alive & terminated
        similarity[ended], distance[ended] = info["similarity"][ended], info["distance"][ended]
        final_generated[ended] = next_obs["generated"][ended]
        alive &= ~(terminated | truncated)
        tokens = step_actions
        if not alive.any():
            break
        running = torch.from_numpy(alive).to(device)[live]
        if not bool(running.all()):  # episodes ended: their rows leave the policy's batch
            live, memory = live[running], memory.rows(running)
            state = tuple(part[:, running] for part in state)
    stacked = {k: torch.stack(v, dim=1) for k, v in columns.items()}
    stacked["rewards"] = stacked["rewards"] * stacked["mask"]
    texts = (
        env.tokenizer.decode_padded(final_generated)
        if hasattr(env.tokenizer, "decode_padded")
        else [env.tokenizer.decode(r) for r in final_generated]
    )
    exact = similarity == 1.0  # normalized Levenshtein similarity is 1 exactly when the texts are equal
    return EpisodeBatch(
        prompts=prompts,
        indices=np.asarray(indices),
        similarity=similarity,
        distance=distance,
        exact=exact,
        texts=texts,
        **stacked,
    )
