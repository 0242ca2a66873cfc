"""`make demo` before training exists: roll out a few episodes with a simple policy and render them.

The policy copies the target's next token with probability 0.8 and otherwise
picks a random valid token, so the renders show both hits and misses.
"""

import gymnasium as gym
import numpy as np

import textgen_env  # noqa: F401  (registers TextGeneration-v0)


def main(episodes: int = 3, accuracy: float = 0.8, seed: int = 0) -> None:
    env = gym.make("TextGeneration-v0", render_mode="ansi")
    rng = np.random.default_rng(seed)
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        core = env.unwrapped
        total, done = 0.0, False
        while not done:
            step = len(core._generated)
            target = core._target
            if step < len(target) and rng.random() < accuracy:
                action = target[step]
            elif step >= len(target):
                action = textgen_env.EOS_ID
            else:
                action = rng.choice(np.flatnonzero(core.action_masks()))
            _, reward, done, _, info = env.step(action)
            total += reward
        print(env.render())
        print(f"return {total:+.3f}   similarity {info['similarity']:.3f}\n")


if __name__ == "__main__":
    main()
