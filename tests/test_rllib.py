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
from agents.integrations import rllib, rllib_run  # noqa: E402
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


def episode_observations(batch, max_new_tokens: int) -> dict:
    """What the env showed at each step of `batch`'s episodes: (B, T, ...) prompts and generated tokens."""
    n, steps = batch.actions.shape
    generated = torch.zeros((n, steps, max_new_tokens), dtype=torch.int32)
    for t in range(steps):
        generated[:, t, :t] = batch.actions[:, :t]
    return {"prompt": batch.prompts[:, None].expand(-1, steps, -1), "generated": generated}


def rows(observations: dict, start: int, stop: int) -> dict:
    return {k: v[:, start:stop] for k, v in observations.items()}


@pytest.mark.parametrize("copy_head", [False, True], ids=["plain", "copy-head"])
def test_stateful_module_equals_the_policy_step_by_step_and_per_episode(copy_head):
    from ray.rllib.core.columns import Columns

    torch.manual_seed(0)
    env = TextGenerationVectorEnv(num_envs=32, task="reverse")
    module = build_module(env.task, PolicyConfig(embed_dim=16, hidden_dim=32, copy_head=copy_head))
    assert module.is_stateful() and module.model_config["max_seq_len"] == env.task.max_new_tokens + 1
    batch = collect_episodes(module.policy, env, np.arange(32))  # our rollout: step mode, the LSTM state carried
    observations = episode_observations(batch, env.task.max_new_tokens)
    steps = batch.actions.shape[1]
    initial = {k: torch.from_numpy(v)[None].expand(32, -1) for k, v in module.get_initial_state().items()}

    def log_probs_of(out, actions):
        return torch.log_softmax(out[Columns.ACTION_DIST_INPUTS], -1).gather(-1, actions[..., None])[..., 0]

    # Sampling: one step per call (B, 1, ...), the state RLlib carries from STATE_OUT to STATE_IN.
    state = initial
    for t in range(steps):
        alive = batch.mask[:, t]
        out = module.forward_exploration({Columns.OBS: rows(observations, t, t + 1), Columns.STATE_IN: state})
        torch.testing.assert_close(log_probs_of(out, batch.actions[:, t : t + 1])[alive, 0], batch.log_probs[alive, t])
        torch.testing.assert_close(out[Columns.EMBEDDINGS][alive, 0], batch.values[alive, t])
        state = out[Columns.STATE_OUT]

    # The learner: each episode in one row, and an episode cut in two chunks, the second from the first's STATE_OUT.
    cut = steps // 2
    whole = module.forward_train({Columns.OBS: observations, Columns.STATE_IN: initial})
    first = module.forward_train({Columns.OBS: rows(observations, 0, cut), Columns.STATE_IN: initial})
    second = module.forward_train({Columns.OBS: rows(observations, cut, steps), Columns.STATE_IN: first[Columns.STATE_OUT]})
    real = batch.mask
    for log_probs, values in (
        (log_probs_of(whole, batch.actions), whole[Columns.EMBEDDINGS]),
        (
            torch.cat([log_probs_of(first, batch.actions[:, :cut]), log_probs_of(second, batch.actions[:, cut:])], 1),
            torch.cat([first[Columns.EMBEDDINGS], second[Columns.EMBEDDINGS]], 1),
        ),
    ):
        torch.testing.assert_close(log_probs[real], batch.log_probs[real])
        torch.testing.assert_close(values[real], batch.values[real])
    values = module.compute_values({Columns.OBS: observations, Columns.STATE_IN: initial})
    torch.testing.assert_close(values, whole[Columns.EMBEDDINGS])
    assert (batch.mask.sum(1) < steps).any()  # some episodes ended early: the masks of EOS were exercised


def test_env_runners_step_our_vector_env_with_the_episodes_of_sync_vector_env(local_ray):
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    from textgen_env.vector import TextGenerationVectorEnv

    def episodes(mode):
        config = (
            rllib.ppo_config(TINY, num_env_runners=0, policy=SMALL, envs_per_env_runner=4)
            .env_runners(gym_env_vectorize_mode=mode)
            .debugging(seed=3)
        )
        runner = SingleAgentEnvRunner(config=config)
        try:
            is_ours = isinstance(runner.env.unwrapped, TextGenerationVectorEnv)
            sampled = runner.sample(num_timesteps=64, random_actions=False)
            return is_ours, [(e.get_observations(), e.get_actions(), e.get_rewards()) for e in sampled]
        finally:
            runner.stop()

    ours_used, ours = episodes("vector_entry_point")
    sync_used, sync = episodes("sync")
    assert ours_used and not sync_used and len(ours) == len(sync) > 4
    for (obs_a, actions_a, rewards_a), (obs_b, actions_b, rewards_b) in zip(ours, sync):
        np.testing.assert_array_equal(obs_a["prompt"], obs_b["prompt"])
        np.testing.assert_array_equal(obs_a["generated"], obs_b["generated"])
        np.testing.assert_array_equal(actions_a, actions_b)
        np.testing.assert_allclose(rewards_a, rewards_b)


def one_iteration(env_config, model="lstm_attention", num_learners=0):
    config = rllib.ppo_config(
        env_config, num_env_runners=2, model=model, policy=SMALL, envs_per_env_runner=4, num_learners=num_learners
    )
    config = config.training(train_batch_size_per_learner=256, minibatch_size=64, num_epochs=1).env_runners(
        num_cpus_per_env_runner=0.5
    )
    if num_learners:
        config = config.learners(num_cpus_per_learner=0.5)  # two learners and two runners on the 2 CPUs Ray has here
    algo = config.build_algo()
    try:
        result = algo.train()
        if num_learners:  # the learners (DDP replicas) hold the same weights after the update
            from ray.rllib.core import DEFAULT_MODULE_ID

            calls = algo.learner_group.foreach_learner(
                lambda learner: {k: v.detach().cpu() for k, v in learner.module[DEFAULT_MODULE_ID].state_dict().items()}
            )
            weights = [call.get() for call in calls]
            assert len(weights) == num_learners
            for name, value in weights[0].items():
                torch.testing.assert_close(weights[1][name], value, rtol=0, atol=0)
        return result["env_runners"]
    finally:
        algo.stop()


@pytest.mark.parametrize("model", ["lstm_attention", "mlp"])
def test_ppo_trains_one_iteration_with_two_env_runners_on_a_task(local_ray, model):
    result = one_iteration(TINY, model)
    assert result["num_env_steps_sampled_lifetime"] >= 256 and result["num_episodes"] > 0
    assert -12.0 <= result["episode_return_mean"] <= 0.0  # dense levenshtein returns of <= 16-token episodes


def test_ppo_trains_with_two_learners(local_ray):
    result = one_iteration(TINY, num_learners=2)  # RLlib runs them as torch DDP replicas (gloo on CPU)
    assert result["num_env_steps_sampled_lifetime"] >= 256


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
        path = rllib_run.export_checkpoint(algo, tmp_path / "rllib" / "checkpoint.pt", ours.config, ours.task, [], 0)
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


def test_train_writes_its_run_through_the_runs_own_folder_log_and_checkpoint(local_ray, tmp_path):
    import csv

    from agents.algorithms.ppo import PPOConfig
    from agents.inference import load
    from agents.runs.checkpoint import Checkpoint

    config = PPOConfig(env=EnvConfig(**TINY), policy=SMALL, num_envs=16, total_env_steps=300, run_dir=str(tmp_path / "run"))
    last = rllib_run.train(config, RLlibConfig(num_env_runners=0, envs_per_env_runner=16), progress=False)
    saved = Checkpoint.load(tmp_path / "run" / "checkpoint.pt")
    assert saved.algorithm == "rllib-ppo" and saved.env_steps == last["env_steps"] >= 300
    with open(tmp_path / "run" / "progress.csv", newline="") as f:
        assert [int(row["env_steps"]) for row in csv.DictReader(f)] == [row["env_steps"] for row in saved.history]
    prompts = TextTask(**TINY).dataset.prompts[:5]
    assert len(load(tmp_path / "run" / "checkpoint.pt", device="cpu").generate(prompts)) == 5
    from agents.runs.rundir import RunDirectory

    RunDirectory(tmp_path / "run").acquire()  # the run released its folder
