"""Ray RLlib integration (the ``rllib`` extra): RLlib's PPO on TextGeneration-v0 with our
LSTM-attention policy, on one machine or across a Ray cluster.

``ppo_config(env_config, num_env_runners=2, model="lstm_attention")`` gives an RLlib
``PPOConfig`` whose RLModule is :class:`agents.integrations.rllib_module.LSTMAttentionModule`, a wrapper of
:class:`agents.model.policy.ActorCritic` (``model="mlp"`` gives RLlib's default MLP over
one-hot flattened observations instead). ``env_config`` is the env config the CLI
and checkpoints use (a built-in task or a dataset, any tokenizer); it is resolved
once on the driver, the tokenizer to its vocabulary and a dataset file to its pairs,
so that every env runner, on any node, builds the same env without the files.

Each env runner steps our native vector env (RLlib's ``vector_entry_point`` mode: the
registered creator builds a :class:`~textgen_env.vector.TextGenerationVectorEnv` when
RLlib asks for ``num_envs``), which gives the same episodes as Gymnasium's
SyncVectorEnv over single envs, at a fraction of the cost.

The module reads the env's Dict observation as it is and is stateful: RLlib's
connectors carry the decoder's LSTM state from step to step while sampling, and the
learner runs each episode once, in sequence mode, from its stored starting state
(``max_seq_len`` is the longest episode). Its numbers equal the policy's step and
sequence modes (tested).

Invalid actions are masked inside the module, from the observation alone (how many
tokens were generated), by the env's own rules, so RLlib never samples one.
Weights go both ways: :func:`load_policy_weights` puts a checkpoint of ours (a
pre-trained policy, say) into a built algorithm, and
:func:`agents.integrations.rllib_run.export_checkpoint` writes the algorithm's policy as a
checkpoint of ours, which ``textgen-rl evaluate`` and ``generate`` read. That module, above
this one (it imports torch and the run base), runs RLlib's PPO as a run of ours
(:class:`~agents.integrations.rllib_run.RLlibPPO`, :func:`~agents.integrations.rllib_run.train`);
``textgen-rl train --backend rllib`` runs all of this.
For several machines see ``examples/rllib_cluster.py``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from agents.model.config import PolicyConfig
from agents.options import check_fields, option
from textgen_env.task import TextTask, resolve_dataset

ENV_NAME = "TextGeneration-v0"
MODELS = ("lstm_attention", "mlp")


@dataclass
class RLlibConfig:
    """Where and how RLlib runs (``textgen-rl train --backend rllib``)."""

    num_env_runners: int = option(2, "rllib: env runner processes (spread over the cluster)")
    envs_per_env_runner: int = option(
        128,
        "rllib: envs each env runner steps together (RLlib's cost per call is large: 128 sampled 1.3x faster than 16)",
        minimum=1,
    )
    address: str | None = option(None, "rllib: the Ray cluster to join ('auto': the running one); default: start a local Ray")
    num_learners: int = option(0, "rllib: learner processes (0: learn in the driver)")
    num_gpus_per_learner: float = option(0.0, "rllib: GPUs per learner (needs num_learners >= 1)")
    model: str = option("lstm_attention", "rllib: the RLModule", choices=list(MODELS))

    def __post_init__(self):
        check_fields(self)


def require_rllib():
    try:
        import ray  # noqa: F401
        from ray.rllib.algorithms.ppo import PPOConfig  # noqa: F401
    except ImportError:
        raise ImportError("RLlib is missing: install the 'rllib' extra, pip install 'textgen-env[rllib]'") from None


def resolve_env_config(env_config: dict, task: TextTask | None = None) -> tuple[dict, TextTask]:
    """The env config every env runner gets (tokenizer as its vocabulary, a dataset file as its pairs), and the train
    task (`task`, where the caller has built it already from the same config)."""
    env_config = {k: v for k, v in dict(env_config).items() if v is not None}
    task = task if task is not None else TextTask(**{**env_config, "split": "train"})
    resolved = {**env_config, "tokenizer": task.tokenizer.to_dict()}
    if "dataset" in env_config:
        full = resolve_dataset(None, env_config["dataset"], env_config.get("task_options"))
        resolved.update(dataset=[[p.prompt, p.target] for p in full.pairs], task_options=None)
    resolved.update(max_prompt_tokens=task.max_prompt_tokens, max_new_tokens=task.max_new_tokens)
    return resolved, task


def make_env(env_config: dict):
    """The env for `env_config`: our vector env where RLlib asks for ``num_envs`` of them, else one env."""
    from textgen_env.env import TextGenerationEnv
    from textgen_env.vector import TextGenerationVectorEnv

    config = {"split": "train", **env_config}  # an evaluation env asks for "test"
    if isinstance(config.get("dataset"), list):
        config["dataset"] = [tuple(pair) for pair in config["dataset"]]
    if "num_envs" in config:
        return TextGenerationVectorEnv(**config)
    return TextGenerationEnv(**config)


def register() -> str:
    """Register the env with Ray Tune's registry (on every worker, through the config's env name)."""
    from ray.tune.registry import register_env

    register_env(ENV_NAME, make_env)
    return ENV_NAME


def module_spec(task: TextTask, policy: PolicyConfig):
    """The RLModuleSpec of :class:`agents.integrations.rllib_module.LSTMAttentionModule` for `task`'s rules."""
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from agents.integrations.rllib_module import LSTMAttentionModule  # imports ray: only where the extra is installed

    model_config = {
        "rules": task.rules.to_dict(),
        "policy": asdict(policy),
        "max_seq_len": task.max_new_tokens + 1,  # the longest episode: one row, one stored state per episode
    }
    return RLModuleSpec(module_class=LSTMAttentionModule, model_config=model_config)


def ppo_config(
    env_config: dict | None = None,
    num_env_runners: int = 2,
    model: str = "lstm_attention",
    policy: PolicyConfig | None = None,
    envs_per_env_runner: int = 128,
    num_learners: int = 0,
    num_gpus_per_learner: float = 0.0,
    task: TextTask | None = None,
    **training,
):
    """An RLlib ``PPOConfig`` for TextGeneration-v0(**env_config); `training` goes to ``.training()``; `task`: its train
    split where the caller has built it already.

    `model`: "lstm_attention" (our policy, `policy` its size) or "mlp" (RLlib's default
    model over one-hot flattened observations). `num_learners` and
    `num_gpus_per_learner` are RLlib's learner settings (GPU learners: num_learners >= 1).
    """
    require_rllib()
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.connectors.env_to_module import FlattenObservations

    if model not in MODELS:
        raise ValueError(f"model={model!r}: allowed values are {list(MODELS)}")
    resolved, task = resolve_env_config(env_config or {}, task)  # the env's own default task
    register()
    config = (
        PPOConfig()
        .environment(ENV_NAME, env_config=resolved)
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=envs_per_env_runner,
            gym_env_vectorize_mode="vector_entry_point",
        )
        .learners(num_learners=num_learners, num_gpus_per_learner=num_gpus_per_learner)
        .training(**training)
    )
    if model == "mlp":
        return config.env_runners(env_to_module_connector=lambda env, spaces, device: FlattenObservations())
    return config.rl_module(rl_module_spec=module_spec(task, policy or PolicyConfig()))


def _state_key(name: str) -> str:
    return f"policy.{name}"


def load_policy_weights(algo, policy_state: dict) -> None:
    """Put an ActorCritic state dict (ours) into a built algorithm's learners and env runners."""
    from ray.rllib.core import DEFAULT_MODULE_ID

    weights = algo.learner_group.get_weights()
    module = dict(weights[DEFAULT_MODULE_ID])
    for name, value in policy_state.items():
        if _state_key(name) not in module:
            raise ValueError(f"weight {name!r} has no place in the RLModule (is it built with the same policy config?)")
        module[_state_key(name)] = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    algo.learner_group.set_weights({DEFAULT_MODULE_ID: module})
    algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)


def policy_weights(algo) -> dict:
    """The algorithm's policy as an ActorCritic state dict (ours), from its learner."""
    import torch
    from ray.rllib.core import DEFAULT_MODULE_ID

    module = algo.learner_group.get_weights()[DEFAULT_MODULE_ID]
    prefix = _state_key("")
    return {k[len(prefix) :]: torch.as_tensor(np.array(v)) for k, v in module.items() if k.startswith(prefix)}


def rllib_training_settings(config, task: TextTask) -> dict:
    """Our PPO config's hyperparameters as RLlib PPO ``.training()`` settings.

    A batch of ``num_envs`` episodes becomes that many episodes' worth of env steps
    (at the task's mean target length, plus EOS), split in ``num_minibatches``.
    """
    steps_per_episode = float(np.mean(task.target_lengths)) + 1
    batch = max(config.num_minibatches, int(config.num_envs * steps_per_episode))
    lr = [[0, config.learning_rate], [config.total_env_steps, 0.0]] if config.anneal_lr else config.learning_rate
    return dict(
        lr=lr,
        gamma=config.gamma,
        lambda_=config.gae_lambda,
        clip_param=config.clip_coef,
        num_epochs=config.update_epochs,
        train_batch_size_per_learner=batch,
        minibatch_size=max(1, batch // config.num_minibatches),
        vf_loss_coeff=config.value_coef,
        entropy_coeff=config.entropy_coef,
        vf_clip_param=config.clip_coef if config.clip_value else math.inf,
        grad_clip=config.max_grad_norm,
        grad_clip_by="global_norm",
        use_kl_loss=False,
    )
