"""`make demo`: pre-train briefly, fine-tune with PPO, show what changed (about 3 minutes on 2 CPU cores).

On the default task (``continue``: finish an English sentence, character by
character) it prints held-out generations of the untrained, the pre-trained and
the fine-tuned policy with their mean similarity, and saves the learning curve
to ``runs/demo/learning_curve.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.evaluation import evaluate_policy
from agents.policy import ActorCritic, PolicyConfig
from agents.ppo import PPO, PPOConfig
from agents.pretrain import Pretrain, PretrainConfig
from textgen_env.task import TextTask

EXAMPLES = 4


def show(title: str, policy: ActorCritic, config, prompts: list[str], targets: list[str]) -> float:
    result = evaluate_policy(policy, config, "test")
    print(f"\n== {title}: held-out mean similarity {result['mean_similarity']:.3f}, exact {result['exact_rate']:.1%}")
    for prompt, text, target in zip(prompts, result["texts"], targets):
        print(f"  {prompt!r:32} -> {text!r}\n  {'':32}    target {target!r}")
    return result["mean_similarity"]


def save_plot(pretrain_history: list[dict], ppo_history: list[dict], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(install the 'plots' extra for the learning-curve plot)")
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot([r["iteration"] for r in pretrain_history], [r["loss"] for r in pretrain_history], marker="o")
    left.set(title="pre-training", xlabel="epoch", ylabel="teacher-forced loss (nats/token)")
    right.plot(
        [r["env_steps"] for r in ppo_history], [r["mean_similarity"] for r in ppo_history], label="training episodes (sampled)"
    )
    right.set(title="PPO fine-tuning", xlabel="env steps", ylabel="mean similarity")
    right.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# Continuing English sentences needs more capacity than the default policy, which is
# sized for copy and reverse: pre-trained for 15 epochs with 32/64, held-out similarity
# was 0.397 against 0.492 with 64/128 (measured with the earlier, packed encoder).
LANGUAGE_POLICY = PolicyConfig(embed_dim=64, hidden_dim=128)
# Brief on purpose: after 8 epochs PPO adds +0.02 to +0.05 held-out similarity (3 seeds);
# after 15, pre-training alone reaches 0.54 and PPO no longer improves it
# (benchmarks/results/agent_quality.md).
PRETRAIN_EPOCHS = 8


def pretrain_config(task: str, epochs: int, seed: int, run_dir: str | None) -> PretrainConfig:
    return PretrainConfig(
        task=task, epochs=epochs, batch_size=32, learning_rate=3e-3, seed=seed, run_dir=run_dir, policy=LANGUAGE_POLICY
    )


def finetune_config(task: str, steps: int, seed: int, pretrained: str, run_dir: str | None) -> PPOConfig:
    """PPO from pre-trained weights: a gentle learning rate, a KL penalty towards the start."""
    return PPOConfig(
        task=task,
        total_env_steps=steps,
        learning_rate=3e-4,
        kl_coef=0.02,
        entropy_coef=0.0,
        seed=seed,
        init_checkpoint=pretrained,
        run_dir=run_dir,
        policy=LANGUAGE_POLICY,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="continue", help="built-in task (default: continue)")
    parser.add_argument("--pretrain-epochs", type=int, default=PRETRAIN_EPOCHS)
    parser.add_argument("--ppo-steps", type=int, default=400_000)
    parser.add_argument("--run-dir", default="runs/demo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run = Path(args.run_dir)

    pre = Pretrain(pretrain_config(args.task, args.pretrain_epochs, args.seed, str(run / "pretrain")))
    test_task = TextTask(split="test", **pre.config.env_kwargs())
    prompts, targets = test_task.dataset.prompts[:EXAMPLES], test_task.target_texts[:EXAMPLES]

    untrained = show("untrained policy", pre.policy, pre.config, prompts, targets)
    print(f"\npre-training for {args.pretrain_epochs} epochs ...")
    pre.learn()
    pretrained = show("pre-trained", pre.policy, pre.config, prompts, targets)

    print(f"\nPPO fine-tuning for {args.ppo_steps} env steps (KL penalty towards the pre-trained policy) ...")
    ppo = PPO(finetune_config(args.task, args.ppo_steps, args.seed, str(run / "pretrain" / "checkpoint.pt"), str(run / "ppo")))
    ppo.learn(progress=True)
    finetuned = show("pre-trained + PPO", ppo.policy, ppo.config, prompts, targets)

    print(
        f"\nheld-out similarity: untrained {untrained:.3f} -> pre-trained {pretrained:.3f} -> + PPO {finetuned:.3f} ({finetuned - pretrained:+.3f} from RL)"
    )
    print(f"training speed: {ppo.history[-1]['env_steps_per_s']:.0f} env steps/s")
    plot = save_plot(pre.history, ppo.history, run / "learning_curve.png")
    if plot:
        print(f"learning curve: {plot}")


if __name__ == "__main__":
    main()
