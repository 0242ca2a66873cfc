"""TextGeneration-v0 inside Stable-Baselines3 and sb3-contrib (the `sb3` extra)."""

import numpy as np
import pytest

sb3 = pytest.importorskip("stable_baselines3", reason="install the 'sb3' extra: pip install 'textgen-env[sb3]'")
sb3_contrib = pytest.importorskip("sb3_contrib", reason="install the 'sb3' extra: pip install 'textgen-env[sb3]'")

from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.vec_env import SubprocVecEnv  # noqa: E402

import textgen_env  # noqa: E402

TINY = dict(task="copy", task_options={"num_examples": 36, "min_length": 2, "max_length": 3, "alphabet": "abc"})


class EpisodeRecorder(BaseCallback):
    """Keeps every finished episode's return and counts masked (invalid) actions taken."""

    def __init__(self):
        super().__init__()
        self.returns, self.invalid_actions = [], 0

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            self.invalid_actions += bool(info.get("invalid_action"))
            if "episode" in info:
                self.returns.append(info["episode"]["r"])
        return True


@pytest.mark.parametrize(
    "algorithm, kwargs",
    [
        (sb3.PPO, {"n_steps": 64, "batch_size": 128}),
        (sb3.A2C, {"n_steps": 8, "learning_rate": 1e-3}),
        (sb3_contrib.MaskablePPO, {"n_steps": 64, "batch_size": 128}),
    ],
    ids=["PPO", "A2C", "MaskablePPO"],
)
def test_sb3_agents_learn_with_multi_input_policy(algorithm, kwargs):
    # make_vec_env asks for render_mode="rgb_array" first; the env must let it fall back.
    venv = make_vec_env("TextGeneration-v0", n_envs=8, seed=0, env_kwargs=TINY)
    recorder = EpisodeRecorder()
    algorithm("MultiInputPolicy", venv, seed=0, **kwargs).learn(12_000, callback=recorder)
    first, last = np.mean(recorder.returns[:50]), np.mean(recorder.returns[-200:])
    assert last > first + 0.3, (first, last)
    if algorithm is sb3_contrib.MaskablePPO:
        assert recorder.invalid_actions == 0  # it read action_masks() and never chose a masked action


def test_maskable_ppo_reads_the_env_masks():
    from sb3_contrib.common.maskable.utils import get_action_masks

    venv = make_vec_env("TextGeneration-v0", n_envs=3, seed=0, env_kwargs=TINY)
    venv.reset()
    masks = get_action_masks(venv)
    assert masks.shape == (3, venv.action_space.n)
    assert not masks[:, textgen_env.EOS_ID].any() and masks[:, 4:].all()


def test_subprocess_vec_env_steps_and_exposes_masks():
    # Worker processes have not imported textgen_env: the "module:id" form registers it there.
    venv = make_vec_env("textgen_env:TextGeneration-v0", n_envs=2, seed=0, env_kwargs=TINY, vec_env_cls=SubprocVecEnv)
    try:
        obs = venv.reset()
        assert set(obs) == {"prompt", "generated"} and obs["generated"].shape[0] == 2
        done_seen = False
        for _ in range(6):
            obs, rewards, dones, infos = venv.step(np.array([4, 5]))
            done_seen |= bool(dones.any())
            assert rewards.shape == (2,) and all("distance" in info for info in infos)
        assert done_seen  # budgets of 3 tokens end episodes; SB3 resets them
        assert venv.env_method("action_masks")[0].shape == (venv.action_space.n,)
    finally:
        venv.close()


def test_make_vec_env_prints_no_render_mode_warning():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        venv = make_vec_env("TextGeneration-v0", n_envs=3, env_kwargs=TINY)  # asks every env for render_mode="rgb_array"
    assert not [w for w in caught if "render_mode" in str(w.message)]
    venv.reset()
    frames = venv.env_method("render")
    assert len(frames) == 3 and frames[0].ndim == 3 and frames[0].dtype == np.uint8  # the mode exists and renders


@pytest.mark.parametrize("vocabulary", ["abc", "".join(chr(0x4E00 + i) for i in range(300))], ids=["uint8", "uint16"])
def test_recurrent_ppo_over_one_hot_observations_as_the_readme_says(vocabulary):
    from gymnasium.wrappers import FlattenObservation

    kwargs = dict(dataset=[("x", vocabulary[i : i + 3]) for i in range(0, 30, 3)], split="all")
    venv = make_vec_env("TextGeneration-v0", n_envs=2, seed=0, env_kwargs=kwargs, wrapper_class=FlattenObservation)
    recorder = EpisodeRecorder()
    model = sb3_contrib.RecurrentPPO("MlpLstmPolicy", venv, n_steps=16, batch_size=32, seed=0)
    model.learn(64, callback=recorder)
    assert recorder.returns and model.num_timesteps >= 64  # trained and finished episodes, with either dtype
