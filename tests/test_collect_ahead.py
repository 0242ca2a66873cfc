"""PPO's batches collected one update ahead: the lag, the worker process, and results that do not depend on it."""

import pytest

torch = pytest.importorskip("torch", reason="install the 'agents' extra")

import agents.algorithms.ppo as ppo_module  # noqa: E402
from agents.algorithms.ahead import MIN_WORKER_ENV_STEPS, worker_pays  # noqa: E402
from agents.algorithms.ppo import PPO, PPOConfig  # noqa: E402
from agents.model.policy import PolicyConfig  # noqa: E402
from agents.runs.config import EnvConfig  # noqa: E402

SMALL = dict(
    env=EnvConfig(task="reverse", task_options={"num_examples": 64, "min_length": 2, "max_length": 6, "alphabet": "abcd"}),
    policy=PolicyConfig(embed_dim=16, hidden_dim=32),
    num_envs=32,
    learning_rate=3e-3,
    total_env_steps=2000,
    seed=4,
    collect_ahead=True,
)


def weights(run):
    return [tensor.clone() for tensor in run.policy.state_dict().values()]


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, atol=0, rtol=0)


@pytest.fixture
def worker(monkeypatch):
    """Runs collect in a worker process, whatever their length and the machine's cores."""
    monkeypatch.setattr(ppo_module, "worker_pays", lambda *args: True)


def test_each_batch_is_collected_with_the_weights_from_before_the_previous_update():
    run = PPO(PPOConfig(**SMALL))
    before_updates, batches = [], []
    update = run.update

    def recording_update(batch):
        before_updates.append({k: v.clone() for k, v in run.policy.state_dict().items()})
        batches.append(batch)
        return update(batch)

    run.update = recording_update
    run.learn(iterations=4)
    scorer = PPO(PPOConfig(**SMALL)).policy
    for k in (2, 3):  # batch k: collected while update k-1 ran, with the weights that update started from
        batch = batches[k]

        def log_probs(state, batch=batch):
            scorer.load_state_dict(state)
            with torch.no_grad():
                return scorer.evaluate_actions(batch.prompts, batch.inputs, batch.actions, batch.action_masks)[0]

        torch.testing.assert_close(log_probs(before_updates[k - 1])[batch.mask], batch.log_probs[batch.mask])
        assert not torch.allclose(log_probs(before_updates[k])[batch.mask], batch.log_probs[batch.mask], atol=1e-4)


def test_a_worker_process_collects_the_same_batches_as_this_process(monkeypatch):
    monkeypatch.setattr(ppo_module, "worker_pays", lambda *args: False)
    in_process = PPO(PPOConfig(**SMALL))
    in_process.learn()
    assert in_process.ahead.worker is None
    monkeypatch.setattr(ppo_module, "worker_pays", lambda *args: True)
    ahead = PPO(PPOConfig(**SMALL))
    ahead.learn()
    process = ahead.ahead.worker.process
    assert process.poll() is None  # alive between calls to learn(), for the next
    assert [r["mean_return"] for r in ahead.history] == [r["mean_return"] for r in in_process.history]
    assert_same(weights(ahead), weights(in_process))
    ahead.ahead.stop_worker()
    assert process.poll() == 0


def test_a_worker_that_dies_is_replaced_by_collecting_here(worker):
    uninterrupted = PPO(PPOConfig(**SMALL))
    uninterrupted.learn()
    run = PPO(PPOConfig(**SMALL))
    run.learn(iterations=2)
    run.ahead.worker.process.kill()
    run.ahead.worker.process.wait()
    run.learn()
    assert run.ahead.worker is None
    assert [r["mean_return"] for r in run.history] == [r["mean_return"] for r in uninterrupted.history]
    assert_same(weights(run), weights(uninterrupted))


def test_a_run_interrupted_with_a_batch_in_flight_resumes_to_the_same_result(tmp_path, worker):
    uninterrupted = PPO(PPOConfig(**SMALL))
    uninterrupted.learn()
    run = PPO(PPOConfig(**SMALL, run_dir=str(tmp_path), checkpoint_every=0))
    run.learn(iterations=3)  # saves at its end, the fourth batch in flight
    resumed = PPO.resume(tmp_path / "checkpoint.pt")
    assert resumed.restored_request is not None
    resumed.learn()
    assert resumed.ahead.worker is not None
    assert [r["mean_return"] for r in resumed.history] == [r["mean_return"] for r in uninterrupted.history]
    assert_same(weights(resumed), weights(uninterrupted))


def test_the_lag_is_logged_as_the_kl_between_the_collecting_and_the_updated_weights():
    lagged = PPO(PPOConfig(**SMALL)).learn(iterations=3)
    assert lagged[0]["collection_lag_kl"] < 1e-6  # the first two batches are collected with the starting weights
    assert all(row["collection_lag_kl"] > 1e-5 for row in lagged[2:])
    assert "collection_lag_kl" not in PPO(PPOConfig(**{**SMALL, "collect_ahead": False})).learn(iterations=1)[0]


def test_without_collecting_ahead_each_batch_is_collected_with_the_current_weights():
    run = PPO(PPOConfig(**{**SMALL, "collect_ahead": False}))
    run.learn(iterations=2)
    batch = run.next_batch()
    with torch.no_grad():
        log_probs = run.policy.evaluate_actions(batch.prompts, batch.inputs, batch.actions, batch.action_masks)[0]
    torch.testing.assert_close(log_probs[batch.mask], batch.log_probs[batch.mask])
    assert run.ahead is None


@pytest.mark.parametrize(
    "device, steps, cores, pays",
    [
        ("cpu", MIN_WORKER_ENV_STEPS, 2, True),
        ("cpu", MIN_WORKER_ENV_STEPS - 1, 2, False),  # a short run: the worker's start costs more than it saves
        ("cpu", MIN_WORKER_ENV_STEPS, 1, False),  # no second core (a process's share of them under torchrun)
        ("cuda", MIN_WORKER_ENV_STEPS, 2, False),  # the GPU collects in this process
    ],
)
def test_a_worker_is_started_only_where_it_pays(device, steps, cores, pays):
    assert worker_pays(torch.device(device), steps, cores) == pays
