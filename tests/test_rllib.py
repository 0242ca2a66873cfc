"""RLlib's PPO with our policy as an RLModule (the `rllib` extra; `make test-rllib` runs these in their own venv)."""

import builtins
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="install the 'agents' extra")

from agents.integrations.rllib import RLlibConfig  # noqa: E402
from agents.model.policy import PolicyConfig  # noqa: E402
from agents.runs.config import EnvConfig  # noqa: E402

TINY = {"task": "copy", "task_options": {"num_examples": 36, "min_length": 2, "max_length": 3, "alphabet": "abc"}}
SMALL = PolicyConfig(embed_dim=16, hidden_dim=32)


def test_backend_rllib_refuses_clearly_without_ray(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    from agents.cli import main

    with pytest.raises(
        SystemExit, match=r"textgen-rl train: RLlib is missing: install the 'rllib' extra, pip install 'textgen-env\[rllib\]'"
    ):
        main(["train", "--backend", "rllib", "--steps", "10", "--run-dir", str(tmp_path)])


ray = pytest.importorskip("ray", reason="install the 'rllib' extra (make test-rllib runs these in their own venv)")

from agents.algorithms.rollout import collect_episodes  # noqa: E402
from agents.integrations import rllib  # noqa: E402
from textgen_env.task import TextTask  # noqa: E402
from textgen_env.vector import TextGenerationVectorEnv  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield
    ray.shutdown()


def build_module(task, policy=SMALL):
    spec = rllib.module_spec(task, policy)
    spec.observation_space, spec.action_space = task.observation_space, task.action_space
    return spec.build()


@pytest.mark.parametrize("copy_head", [False, True], ids=["plain", "copy-head"])
def test_module_log_probs_and_values_equal_the_policys_step_mode(copy_head):
    from ray.rllib.core.columns import Columns

    torch.manual_seed(0)
    env = TextGenerationVectorEnv(num_envs=32, task="reverse")
    module = build_module(env.task, PolicyConfig(embed_dim=16, hidden_dim=32, copy_head=copy_head))
    batch = collect_episodes(module.policy, env, np.arange(32))  # step mode, the LSTM state carried
    steps = batch.actions.shape[1]
    for t in range(steps):
        alive = batch.mask[:, t]
        generated = torch.zeros((32, env.task.max_new_tokens), dtype=torch.int32)
        generated[:, :t] = batch.actions[:, :t]
        out = module.forward_exploration({Columns.OBS: {"prompt": batch.prompts, "generated": generated}})
        log_probs = torch.log_softmax(out[Columns.ACTION_DIST_INPUTS], -1).gather(1, batch.actions[:, t : t + 1])[:, 0]
        torch.testing.assert_close(log_probs[alive], batch.log_probs[alive, t], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out[Columns.EMBEDDINGS][alive], batch.values[alive, t], atol=1e-5, rtol=1e-5)
        values = module.compute_values({Columns.OBS: {"prompt": batch.prompts, "generated": generated}})
        torch.testing.assert_close(values, out[Columns.EMBEDDINGS])
    assert (batch.mask.sum(1) < steps).any()  # some episodes ended early: the masks of EOS were exercised


def one_iteration(env_config, model="lstm_attention"):
    config = rllib.ppo_config(env_config, num_env_runners=2, model=model, policy=SMALL, envs_per_env_runner=4)
    config = config.training(train_batch_size_per_learner=256, minibatch_size=64, num_epochs=1).env_runners(
        num_cpus_per_env_runner=0.5
    )
    algo = config.build_algo()
    try:
        return algo.train()["env_runners"]
    finally:
        algo.stop()


@pytest.mark.parametrize("model", ["lstm_attention", "mlp"])
def test_ppo_trains_one_iteration_with_two_env_runners_on_a_task(local_ray, model):
    result = one_iteration(TINY, model)
    assert result["num_env_steps_sampled_lifetime"] >= 256 and result["num_episodes"] > 0
    assert -12.0 <= result["episode_return_mean"] <= 0.0  # dense levenshtein returns of <= 16-token episodes


def test_ppo_trains_one_iteration_on_a_dataset_file(local_ray, tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(
        "".join(
            json.dumps({"prompt": w, "target": w.upper()}) + "\n" for w in ["ab", "ba", "abc", "cab", "bca", "aa", "bb", "cc"]
        )
    )
    resolved, task = rllib.resolve_env_config({"dataset": str(data)})
    assert resolved["dataset"][0] == ["ab", "AB"] and resolved["tokenizer"]["kind"] == "char"  # nodes need not have the file
    result = one_iteration({"dataset": str(data)})
    assert result["num_env_steps_sampled_lifetime"] >= 256


def test_checkpoint_round_trip_ours_to_rllib_to_ours(local_ray, tmp_path):
    from agents.algorithms.ppo import PPO, PPOConfig
    from agents.inference import load

    ours = PPO(
        PPOConfig(env=EnvConfig(**TINY), policy=SMALL, num_envs=16, total_env_steps=200, run_dir=str(tmp_path / "ours"))
    )
    ours.learn()
    algo = rllib.ppo_config(TINY, num_env_runners=0, policy=SMALL).build_algo()
    try:
        rllib.load_policy_weights(algo, ours.policy.state_dict())
        for name, value in rllib.policy_weights(algo).items():
            torch.testing.assert_close(value, ours.policy.state_dict()[name], atol=0, rtol=0)
        sampling_module = algo.get_module()  # the env runner's copy got them too
        for name, value in ours.policy.state_dict().items():
            torch.testing.assert_close(sampling_module.policy.state_dict()[name], value, atol=0, rtol=0)
        path = rllib.export_checkpoint(algo, tmp_path / "rllib" / "checkpoint.pt", ours.config, ours.task, [], 0)
    finally:
        algo.stop()
    prompts = ours.task.dataset.prompts
    exported = load(path, device="cpu")
    assert exported.algorithm == "rllib-ppo"
    assert exported.generate(prompts) == load(ours.checkpoint_path, device="cpu").generate(prompts)


def test_learner_settings_reach_the_config():
    task = TextTask(**TINY)
    config = rllib.ppo_config(TINY, num_env_runners=16, policy=SMALL, num_learners=2, num_gpus_per_learner=1)
    assert config.num_learners == 2 and config.num_gpus_per_learner == 1 and config.num_env_runners == 16
    assert config.rl_module_spec.model_config["rules"] == task.rules.to_dict()
    from agents.algorithms.ppo import PPOConfig

    settings = rllib.rllib_training_settings(
        PPOConfig(env=EnvConfig(**TINY), num_envs=64, num_minibatches=4, total_env_steps=1000), task
    )
    assert settings["minibatch_size"] * 4 == settings["train_batch_size_per_learner"] and settings["lr"][-1] == [1000, 0.0]
    assert RLlibConfig().model == "lstm_attention"
