"""Policy modes, returns, learning on a tiny task, checkpoints and resume."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="install the 'agents' extra")

from agents.algorithms.a2c import A2C, A2CConfig  # noqa: E402
from agents.algorithms.configs import REINFORCE_BASELINES  # noqa: E402
from agents.algorithms.ppo import PPO, PPOConfig  # noqa: E402
from agents.algorithms.pretrain import Pretrain, PretrainConfig, teacher_forced_batch  # noqa: E402
from agents.algorithms.reinforce import Reinforce, ReinforceConfig  # noqa: E402
from agents.algorithms.returns import discounted_returns, generalized_advantages  # noqa: E402
from agents.algorithms.rollout import collect_episodes  # noqa: E402
from agents.model.decoding import decode_ids, generate_texts, pad_rows  # noqa: E402
from agents.model.evaluation import evaluate_policy  # noqa: E402
from agents.model.policy import (  # noqa: E402
    ActorCritic,
    PolicyConfig,
    left_align,
    sample_rows,
)
from agents.runs.checkpoint import Checkpoint, CheckpointError  # noqa: E402
from agents.runs.config import EnvConfig  # noqa: E402
from agents.runs.gradients import MIN_PART_CELLS, PartGradients, split_rows  # noqa: E402
from agents.runs.run import make_adam  # noqa: E402
from textgen_env.tokenizers import BOS_ID  # noqa: E402
from textgen_env.vector import TextGenerationVectorEnv  # noqa: E402

TINY = dict(
    env=EnvConfig(task="copy", task_options={"num_examples": 36, "min_length": 2, "max_length": 3, "alphabet": "abc"}),
    policy=PolicyConfig(embed_dim=16, hidden_dim=32),
    num_envs=32,
)


PRETRAIN_TINY = {k: v for k, v in TINY.items() if k != "num_envs"}  # pre-training steps no env


def tiny(config_class, **overrides):
    return config_class(**{**TINY, "total_env_steps": 3000, "learning_rate": 3e-3, **overrides})


@pytest.mark.parametrize(
    "copy_head, position_features", [(False, False), (True, False), (True, True)], ids=["plain", "copy-head", "positions"]
)
def test_step_mode_and_sequence_mode_agree(copy_head, position_features):
    torch.manual_seed(0)
    env = TextGenerationVectorEnv(num_envs=48, task="reverse")
    config = PolicyConfig(embed_dim=16, hidden_dim=32, copy_head=copy_head, position_features=position_features)
    policy = ActorCritic(env.task.vocab_size, config)
    batch = collect_episodes(policy, env, np.arange(48))
    log_probs, entropy, values = policy.evaluate_actions(batch.prompts, batch.inputs, batch.actions, batch.action_masks)
    mask = batch.mask
    assert mask.sum() > 48 and (~mask).any()  # episodes of different lengths
    torch.testing.assert_close(log_probs[mask], batch.log_probs[mask], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(values[mask], batch.values[mask], atol=1e-5, rtol=1e-5)
    assert (entropy[mask] > 0).all()
    # masked actions have probability zero: no sampled action is ever invalid
    assert batch.action_masks.gather(-1, batch.actions[..., None])[..., 0][mask].all()


def test_prompt_encoding_ignores_padding_width():
    torch.manual_seed(0)
    policy = ActorCritic(12, PolicyConfig(embed_dim=8, hidden_dim=16))
    prompts = torch.tensor([[5, 6, 7, 0, 0], [8, 0, 0, 0, 0], [0, 0, 0, 0, 0], [9, 10, 11, 5, 6]])
    assert left_align(prompts).tolist() == [[0, 0, 5, 6, 7], [0, 0, 0, 0, 8], [0, 0, 0, 0, 0], [9, 10, 11, 5, 6]]
    wide = policy.encode(torch.cat([prompts, torch.zeros(4, 3, dtype=torch.long)], dim=1))
    for row, length in enumerate([3, 1, 0, 5]):
        alone = policy.encode(prompts[row : row + 1, : max(length, 1)])
        for state, state_alone in zip(wide.initial_state, alone.initial_state):
            torch.testing.assert_close(state[:, row], state_alone[:, 0], atol=1e-6, rtol=1e-6)
        real = wide.mask[row]
        assert real.sum() == max(length, 1)  # an empty prompt keeps one (zero) state to attend to
        torch.testing.assert_close(wide.states[row][real], alone.states[0][alone.mask[0]], atol=1e-6, rtol=1e-6)
    assert (wide.initial_state[0][:, 2] == 0).all()  # nothing read, nothing remembered


def test_sample_rows_follows_the_probabilities_and_never_picks_impossible_ones(monkeypatch):
    torch.manual_seed(0)
    probs = torch.tensor([0.1, 0.0, 0.6, 0.3, 0.0]).expand(100_000, 5).contiguous()
    frequencies = torch.bincount(sample_rows(probs), minlength=5) / len(probs)
    torch.testing.assert_close(frequencies, probs[0], atol=0.01, rtol=0)
    assert frequencies[1] == 0 and frequencies[4] == 0
    # a uniform draw that rounds up to the whole mass still lands on the last possible index
    monkeypatch.setattr(torch, "rand_like", torch.ones_like)
    assert sample_rows(torch.tensor([[0.2, 0.8, 0.0], [0.0, 0.0, 1.0]])).tolist() == [1, 2]
    monkeypatch.setattr(torch, "rand_like", torch.zeros_like)  # and a draw of 0 on the first possible one
    assert sample_rows(torch.tensor([[0.0, 0.5, 0.5]])).tolist() == [1]


def test_adam_falls_back_to_foreach_where_fused_is_missing(monkeypatch):
    parameters = [torch.nn.Parameter(torch.zeros(3))]
    assert make_adam(parameters, 1e-3).defaults["fused"]
    real_adam = torch.optim.Adam

    def old_torch_adam(params, fused=None, **kwargs):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
        return real_adam(params, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", old_torch_adam)
    optimizer = make_adam(parameters, 1e-3)
    assert optimizer.defaults["foreach"] and not optimizer.defaults["fused"]


def test_returns_and_gae_by_hand():
    rewards = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    torch.testing.assert_close(discounted_returns(rewards, mask, 0.5), torch.tensor([[1.5, 1.0, 2.0], [3.0, 0.0, 0.0]]))
    values = torch.tensor([[0.5, 0.5, 0.5], [1.0, 9.0, 9.0]])
    advantages, targets = generalized_advantages(rewards, values, mask, gamma=1.0, gae_lambda=1.0)
    torch.testing.assert_close(advantages, torch.tensor([[2.5, 1.5, 1.5], [2.0, 0.0, 0.0]]))
    torch.testing.assert_close(targets, torch.tensor([[3.0, 2.0, 2.0], [3.0, 0.0, 0.0]]))
    one_step, _ = generalized_advantages(rewards, values, mask, gamma=1.0, gae_lambda=0.0)
    torch.testing.assert_close(one_step[0], torch.tensor([1.0 + 0.5 - 0.5, 0.0 + 0.5 - 0.5, 2.0 - 0.5]))


def early_and_late(history, k=5):
    returns = [row["mean_return"] for row in history]
    return np.mean(returns[:k]), np.mean(returns[-k:])


@pytest.mark.parametrize(
    "algorithm, config",
    # A2C and REINFORCE take one gradient step per batch: a larger step size shows their learning in the same budget.
    [(PPO, tiny(PPOConfig)), (A2C, tiny(A2CConfig, learning_rate=1e-2))]
    + [(Reinforce, tiny(ReinforceConfig, baseline=b, learning_rate=1e-2)) for b in REINFORCE_BASELINES],
    ids=["ppo", "a2c"] + [f"reinforce-{b}" for b in REINFORCE_BASELINES],
)
def test_each_agent_improves_the_mean_reward_on_a_tiny_task(algorithm, config):
    agent = algorithm(config)
    history = agent.learn()
    early, late = early_and_late(history)
    assert late > early + 0.1, (early, late)


def test_same_seed_same_curve_and_other_seed_differs():
    curves = [[row["mean_return"] for row in PPO(tiny(PPOConfig, total_env_steps=800, seed=s)).learn()] for s in (1, 1, 2)]
    assert curves[0] == curves[1]
    assert curves[0] != curves[2]


def test_resume_continues_to_the_same_result(tmp_path):
    full = PPO(tiny(PPOConfig, total_env_steps=1200, kl_coef=0.1))
    full.learn()
    half = PPO(tiny(PPOConfig, total_env_steps=1200, kl_coef=0.1, run_dir=str(tmp_path), checkpoint_every=0))
    update = half.update

    def update_then_ctrl_c(batch):  # Ctrl-C arriving in the middle of iteration 3
        stats = update(batch)
        if half.iteration == 2:
            half.request_stop()
        return stats

    half.update = update_then_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        half.learn()
    assert half.iteration == 3
    resumed = PPO.resume(tmp_path / "checkpoint.pt", total_env_steps=1200)
    assert resumed.iteration == half.iteration and resumed.reference_policy is not None
    resumed.learn()
    assert [r["mean_return"] for r in resumed.history] == [r["mean_return"] for r in full.history]
    for a, b in zip(full.policy.state_dict().values(), resumed.policy.state_dict().values()):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    csv_rows = (tmp_path / "progress.csv").read_text().strip().splitlines()
    assert len(csv_rows) == 1 + len(full.history)


def test_reinforce_running_mean_survives_resume(tmp_path):
    agent = Reinforce(tiny(ReinforceConfig, baseline="mean", total_env_steps=300, run_dir=str(tmp_path)))
    agent.learn()
    assert agent.running_mean != 0.0
    assert Reinforce.resume(tmp_path / "checkpoint.pt").running_mean == agent.running_mean


def test_checkpoint_round_trip_and_refusals(tmp_path):
    agent = A2C(tiny(A2CConfig, total_env_steps=200, run_dir=str(tmp_path)))
    agent.learn()
    path = tmp_path / "checkpoint.pt"
    data = Checkpoint.load(path)
    assert data.algorithm == "a2c" and data.config["env"]["task"] == "copy" and data.iteration == agent.iteration
    assert data.rules == agent.task.rules and data.tokenizer == agent.task.tokenizer
    with pytest.raises(CheckpointError, match="not 'ppo'"):
        PPO.resume(path)
    (tmp_path / "truncated.pt").write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated.pt: not a readable"):
        Checkpoint.load(tmp_path / "truncated.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        Checkpoint.load(tmp_path / "missing.pt")
    # A file holding a pickled object is refused, not unpickled.
    torch.save({"format": "textgen-rl-checkpoint", "evil": _Evil()}, tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError) as refused:
        Checkpoint.load(tmp_path / "pickled.pt")
    said = str(refused.value)
    assert said.startswith(f"{tmp_path / 'pickled.pt'}: holds pickled Python objects (print)")
    assert said.endswith("the file may be malicious (unpickling it can run any code), and it was not loaded")
    assert "weights_only" not in said  # never torch's advice to load it unsafely
    # Starting weights bring their own tokenizer, so their ids fit any data; another policy size is refused.
    other_data = PPO(tiny(PPOConfig, env=EnvConfig(task="reverse"), init_checkpoint=str(path)))
    assert other_data.task.tokenizer == agent.task.tokenizer and other_data.task.dataset.name == "reverse[train]"
    with pytest.raises(CheckpointError, match="does not match"):
        PPO(tiny(PPOConfig, policy=PolicyConfig(embed_dim=8, hidden_dim=8), init_checkpoint=str(path)))
    # Version 2 files (no tokenizer or rules inside) are refused by version, not by a KeyError.
    torch.save({**torch.load(path, weights_only=True), "version": 2}, tmp_path / "v2.pt")
    with pytest.raises(CheckpointError, match=r"v2.pt: checkpoint version 2; this code reads versions \[4, 5, 6, 7\]"):
        PPO(tiny(PPOConfig, init_checkpoint=str(tmp_path / "v2.pt")))


@pytest.mark.parametrize("task, block", [("copy", 0), ("reverse", 1)])
def test_position_features_alone_can_point_at_the_steps_own_place(task, block):
    """Attention scored by position only (content scores off, the copy head always copying): a bilinear map that
    matches the step's sinusoids with the positions counted from the start copies every prompt, one that matches
    those counted from the end reverses it, whatever its length in a padded batch, in step and sequence mode."""
    from agents.model.policy import POSITION_FREQUENCIES

    heldout = TextGenerationVectorEnv(num_envs=1, task=task, task_options={"min_length": 3, "max_length": 40}).task
    width = 2 * POSITION_FREQUENCIES
    policy = ActorCritic(heldout.vocab_size, PolicyConfig(embed_dim=8, hidden_dim=width))
    with torch.no_grad():
        policy.attention_query.weight.zero_()
        policy.copy_gate.weight.zero_()
        policy.copy_gate.bias.fill_(-40.0)  # never generate from the vocabulary: write what attention points at
        policy.step_query.weight.copy_(20 * torch.eye(width))
        policy.position_key.weight.zero_()
        policy.position_key.weight[:, block * width : (block + 1) * width] = torch.eye(width)
    prompts, targets = heldout.prompt_ids[:32], heldout.target_ids[:32]
    assert len({len(p) for p in prompts}) > 10
    written, _ = decode_ids(policy, heldout.rules, prompts)
    assert all(w[: len(t)] == t for w, t in zip(written, targets))
    inputs = pad_rows([[BOS_ID, *t[:-1]] for t in targets], "cpu")  # teacher-forced, all at once, padded batch
    logits, _ = policy.sequence(inputs, policy.encode(pad_rows(prompts, "cpu")))
    assert all(logits[i, : len(t)].argmax(-1).tolist() == t for i, t in enumerate(targets))


def test_older_checkpoints_load_as_policies_without_position_features(tmp_path):
    """Version 4 predates position features: its records do not mention them, and its weights have none.
    Version 5's position features were added to the encoder states: a version 5 policy without them loads,
    one with them is refused by name, not by a state-dict mismatch."""
    without = PolicyConfig(position_features=False)
    old = PPO(tiny(PPOConfig, policy=without, run_dir=str(tmp_path / "old")))
    old.learn()
    path = tmp_path / "old" / "checkpoint.pt"
    data = torch.load(path, weights_only=True)
    assert not any(name.startswith(("step_query.", "position_key.")) for name in data["policy"])
    described, config = json.loads(data["policy_config"]), json.loads(data["config"])
    torch.save({**data, "version": 5}, tmp_path / "v5.pt")
    assert Checkpoint.load(tmp_path / "v5.pt").policy_config["position_features"] is False
    described["position_features"] = True
    torch.save({**data, "version": 5, "policy_config": json.dumps(described)}, tmp_path / "v5-positions.pt")
    with pytest.raises(CheckpointError, match="v5-positions.pt: a version 5 policy with position features"):
        Checkpoint.load(tmp_path / "v5-positions.pt")
    del described["position_features"], config["policy"]["position_features"]
    torch.save({**data, "version": 4, "policy_config": json.dumps(described), "config": json.dumps(config)}, path)

    loaded = Checkpoint.load(path)
    assert loaded.policy_config["position_features"] is False
    policy = loaded.make_policy(path)
    assert policy.step_query is None and policy.position_key is None
    resumed = PPO.resume(path, total_env_steps=2 * old.env_steps)  # its config rebuilds the same policy
    resumed.learn()
    assert resumed.env_steps > old.env_steps
    with pytest.raises(CheckpointError, match="does not match"):  # a policy with them does not take its weights
        PPO(tiny(PPOConfig, policy=PolicyConfig(position_features=True), init_checkpoint=str(path)))


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_pretraining_then_finetuning_path(tmp_path):
    task_kwargs = {**PRETRAIN_TINY, "learning_rate": 3e-3}
    pre = Pretrain(PretrainConfig(**task_kwargs, epochs=30, batch_size=16, run_dir=str(tmp_path / "pre")))
    before = evaluate_policy(pre.policy, pre.task)["mean_similarity"]
    history = pre.learn()
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    after = evaluate_policy(pre.policy, pre.task)["mean_similarity"]
    assert after > before + 0.3
    short = next(i for i, t in enumerate(pre.task.target_ids) if len(t) < pre.task.max_new_tokens)
    full = next(i for i, t in enumerate(pre.task.target_ids) if len(t) == pre.task.max_new_tokens)
    batch = teacher_forced_batch(pre.task, np.array([short, full]))
    assert batch["actions"][0, : len(pre.task.target_ids[short]) + 1].tolist() == pre.task.target_ids[short] + [2]  # then EOS
    assert batch["mask"][1].sum() == pre.task.max_new_tokens  # the budget ends it: no EOS step
    assert batch["inputs"][0, 0] == 1 and batch["inputs"][0, 1] == pre.task.target_ids[short][0]
    finetune = PPO(tiny(PPOConfig, total_env_steps=500, kl_coef=0.05, init_checkpoint=str(tmp_path / "pre" / "checkpoint.pt")))
    start = evaluate_policy(finetune.policy, finetune.task)["mean_similarity"]
    assert start == pytest.approx(after)
    finetune.learn()
    # the first batch comes from the starting policy itself; later ones from a policy that moved
    # (a sampled estimate of the KL, so it may be negative)
    assert finetune.history[0]["kl_to_reference"] == pytest.approx(0.0, abs=1e-5)
    assert abs(finetune.history[-1]["kl_to_reference"]) > 1e-3
    prompts = pre.task.dataset.prompts
    texts = generate_texts(finetune.policy, finetune.task.tokenizer, finetune.task.rules, prompts)
    assert texts == evaluate_policy(finetune.policy, finetune.task)["texts"]  # generation is what evaluation scores
    assert sum(t == p for t, p in zip(texts, prompts)) > len(prompts) // 2  # copy: most written right


def test_teacher_forced_batches_are_as_wide_as_their_pairs_need_and_score_as_full_width_ones():
    pre = Pretrain(PretrainConfig(**PRETRAIN_TINY, epochs=1, seed=3))
    task = pre.task
    lengths = np.array([len(t) for t in task.target_ids])
    shortest = np.argsort(lengths, kind="stable")[:4]
    batch = teacher_forced_batch(task, shortest)
    assert batch["inputs"].shape[1] == lengths[shortest].max() + 1 < task.max_new_tokens + 1
    assert batch["prompts"].shape[1] == max(len(task.prompt_ids[i]) for i in shortest) < task.prompt_matrix.shape[1]
    # the same pairs padded to the task's full width: the same log-probabilities on every real step
    steps, width = task.max_new_tokens + 1, task.prompt_matrix.shape[1]
    wide = {key: torch.zeros((len(shortest), steps), dtype=value.dtype) for key, value in batch.items() if value.dim() == 2}
    for key in ("inputs", "actions", "mask"):
        wide[key][:, : batch[key].shape[1]] = batch[key]
    wide["prompts"] = torch.from_numpy(task.prompt_matrix[shortest]).long()
    assert wide["prompts"].shape[1] == width
    wide_masks = torch.from_numpy(
        np.ascontiguousarray(
            np.broadcast_to(task.rules.action_masks(np.arange(steps)), (len(shortest), steps, task.vocab_size))
        )
    )
    with torch.no_grad():
        narrow, _, _ = pre.policy.evaluate_actions(batch["prompts"], batch["inputs"], batch["actions"], batch["action_masks"])
        full, _, _ = pre.policy.evaluate_actions(wide["prompts"], wide["inputs"], wide["actions"], wide_masks)
    real = batch["mask"]
    torch.testing.assert_close(narrow[real], full[:, : real.shape[1]][real], rtol=1e-5, atol=1e-6)


def test_value_warmup_trains_the_value_head_alone_then_everything():
    agent = PPO(tiny(PPOConfig, total_env_steps=600, value_warmup_steps=300))
    start = {name: p.detach().clone() for name, p in agent.policy.named_parameters()}

    def moved() -> set[str]:
        return {name for name, p in agent.policy.named_parameters() if not torch.equal(p, start[name])}

    agent.learn(until=300)
    assert agent.env_steps >= 300 and moved() == {"value_head.weight", "value_head.bias"}
    assert all(p.requires_grad for p in agent.policy.parameters())  # unfrozen after each update
    agent.learn()
    assert "embed.weight" in moved() and "policy_head.weight" in moved() and "decoder.weight_hh_l0" in moved()


def test_bad_configs_name_the_value():
    with pytest.raises(ValueError, match="baseline='critic'"):
        ReinforceConfig(baseline="critic")
    with pytest.raises(ValueError, match="rloo_samples=3"):
        ReinforceConfig(num_envs=64, rloo_samples=3)


def test_pretraining_stops_at_an_epoch_boundary_and_resumes_exactly(tmp_path):
    config = dict(**PRETRAIN_TINY, learning_rate=3e-3, epochs=4, batch_size=16)
    full = Pretrain(PretrainConfig(**config))
    full.learn()
    half = Pretrain(PretrainConfig(**config, run_dir=str(tmp_path), checkpoint_every=0))
    original = half.iterate

    def iterate_then_ctrl_c():
        row = original()
        if half.iteration == 2:
            half.request_stop()
        return row

    half.iterate = iterate_then_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        half.learn()
    resumed = Pretrain.resume(tmp_path / "checkpoint.pt")
    assert resumed.iteration == 2
    resumed.learn()
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]


def test_length_grouped_minibatches_are_bands_of_lengths_taken_in_rank_zeros_order(monkeypatch):
    env = EnvConfig(task="reverse", task_options={"min_length": 2, "max_length": 12})
    run = PPO(tiny(PPOConfig, env=env, num_envs=32, num_minibatches=4))
    batch = collect_episodes(run.policy, run.env, run.sample_indices())
    groups = run.minibatches(batch)
    assert sorted(torch.cat(groups).tolist()) == list(range(32))  # every episode once
    bands = sorted((int(batch.lengths[g].min()), int(batch.lengths[g].max())) for g in groups)
    assert all(high <= next_low for (_, high), (next_low, _) in zip(bands, bands[1:]))  # no band overlaps the next
    # Across processes the ranks take their bands in rank 0's order, so that lockstep minibatches match in length.
    monkeypatch.setattr(run.ranks, "broadcast_object", lambda order: [3, 2, 1, 0])
    lows = [int(batch.lengths[g].min()) for g in run.minibatches(batch)]
    assert lows == sorted(lows, reverse=True)


def test_prompts_are_encoded_only_as_wide_as_the_longest_and_the_padding_left_out_changes_nothing():
    torch.manual_seed(0)
    policy = ActorCritic(12, PolicyConfig(embed_dim=8, hidden_dim=16))
    prompts = torch.tensor([[5, 6, 7, 0, 0, 0, 0, 0], [8, 9, 0, 0, 0, 0, 0, 0]])
    memory = policy.encode(prompts)
    assert memory.states.shape[1] == 3  # the longest prompt, not the 8 columns given
    # the full width, encoded as before: its padding leaves the state at exactly zero, so the final states agree
    _, (h, c) = policy.encoder(policy.embed(left_align(prompts)))
    torch.testing.assert_close(memory.initial_state[0], h, rtol=0, atol=0)
    torch.testing.assert_close(memory.initial_state[1], c, rtol=0, atol=0)


def test_a_minibatch_is_cut_into_interleaved_parts_only_where_each_part_holds_enough_work():
    rows = torch.arange(64)
    assert [len(p) for p in split_rows(rows, steps=64, parts=2)] == [32, 32]
    parts = split_rows(rows, steps=64, parts=2)
    assert parts[0].tolist() == list(range(0, 64, 2)) and parts[1].tolist() == list(range(1, 64, 2))
    assert len(split_rows(rows, steps=MIN_PART_CELLS // 64 * 2 - 1, parts=2)) == 1  # too little work for two
    assert len(split_rows(rows, steps=64, parts=1)) == 1
    assert len(split_rows(torch.arange(1), steps=10**6, parts=2)) == 1  # never an empty part


def test_the_gradient_summed_over_parts_is_the_whole_minibatchs_and_the_same_on_one_core_or_two():
    torch.manual_seed(0)
    env = TextGenerationVectorEnv(num_envs=40, task="reverse")
    policy = ActorCritic(env.task.vocab_size, PolicyConfig(embed_dim=16, hidden_dim=32))
    batch = collect_episodes(policy, env, np.arange(40))
    parameters = list(policy.parameters())
    policy.value_head.requires_grad_(False)  # a frozen parameter gets no gradient

    def loss_of(rows):
        log_probs, entropy, values = policy.evaluate_actions(
            batch.prompts[rows], batch.inputs[rows], batch.actions[rows], batch.action_masks[rows]
        )
        return ((log_probs + entropy) * batch.mask[rows]).sum(), len(rows)

    def gradients(workers, parts):
        loss, extras = PartGradients(workers).accumulate(parameters, parts, loss_of)
        return loss, extras, [None if p.grad is None else p.grad.clone() for p in parameters]

    whole_loss, _, whole = gradients(1, [torch.arange(40)])
    halves = [torch.arange(0, 40, 2), torch.arange(1, 40, 2)]
    one_core, two_cores = gradients(1, halves), gradients(2, halves)
    assert one_core[1] == two_cores[1] == [20, 20]  # each part's extras, in order
    assert one_core[0] == two_cores[0] == pytest.approx(whole_loss, rel=1e-5)
    for on_one, on_two, of_whole, parameter in zip(one_core[2], two_cores[2], whole, parameters):
        if not parameter.requires_grad:
            assert on_one is None and on_two is None
            continue
        torch.testing.assert_close(on_one, on_two, rtol=0, atol=0)  # bit-equal: the sum's order is fixed
        torch.testing.assert_close(on_one, of_whole, rtol=1e-4, atol=1e-6)


class CountedParts(PartGradients):
    """Part gradients that remember the most parts a minibatch was cut into."""

    most = 0

    def accumulate(self, parameters, parts, loss_of):
        self.most = max(self.most, len(parts))
        return super().accumulate(parameters, parts, loss_of)


def test_ppo_in_parts_gives_the_same_weights_whatever_the_cores_free():
    env = EnvConfig(task="reverse", task_options={"min_length": 20, "max_length": 40})
    weights = []
    for workers in (1, 2):
        run = PPO(tiny(PPOConfig, env=env, total_env_steps=2000, num_minibatches=1, gradient_parts=2))
        run.part_gradients = CountedParts(workers)
        run.learn()
        assert run.part_gradients.most == 2  # minibatches of 32 episodes of 20-40 steps are cut in two
        weights.append(run.policy.state_dict())
    for name, value in weights[0].items():
        torch.testing.assert_close(value, weights[1][name], rtol=0, atol=0, msg=name)


def test_pretraining_in_parts_gives_the_same_weights_whatever_the_cores_free():
    env = EnvConfig(task="reverse", task_options={"num_examples": 64, "min_length": 20, "max_length": 40})
    weights, losses = [], []
    for workers in (1, 2):
        run = Pretrain(PretrainConfig(**{**PRETRAIN_TINY, "env": env}, epochs=1, batch_size=32, gradient_parts=2))
        run.part_gradients = CountedParts(workers)
        losses.append([row["loss"] for row in run.learn()])
        assert run.part_gradients.most == 2  # batches of 32 targets of 21-41 steps are cut in two
        weights.append(run.policy.state_dict())
    assert losses[0] == losses[1]
    for name, value in weights[0].items():
        torch.testing.assert_close(value, weights[1][name], rtol=0, atol=0, msg=name)
