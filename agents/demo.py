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
from agents.policy import ActorCritic
from agents.ppo import PPO
from agents.pretrain import Pretrain
from agents.recipes import PRETRAIN_EPOCHS, finetune_config, pretrain_config
from textgen_env.task import TextTask

EXAMPLES = 4


def show(title: str, policy: ActorCritic, task: TextTask, prompts: list[str], targets: list[str]) -> float:
    result = evaluate_policy(policy, task)
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
    test_task = pre.heldout_task()
    prompts, targets = test_task.dataset.prompts[:EXAMPLES], test_task.target_texts[:EXAMPLES]

    untrained = show("untrained policy", pre.policy, test_task, prompts, targets)
    print(f"\npre-training for {args.pretrain_epochs} epochs ...")
    pre.learn()
    pretrained = show("pre-trained", pre.policy, test_task, prompts, targets)

    print(f"\nPPO fine-tuning for {args.ppo_steps} env steps (KL penalty towards the pre-trained policy) ...")
    ppo = PPO(finetune_config(args.task, args.ppo_steps, args.seed, str(run / "pretrain" / "checkpoint.pt"), str(run / "ppo")))
    ppo.learn(progress=True)
    finetuned = show("pre-trained + PPO", ppo.policy, test_task, prompts, targets)

    print(
        f"\nheld-out similarity: untrained {untrained:.3f} -> pre-trained {pretrained:.3f} -> + PPO {finetuned:.3f} ({finetuned - pretrained:+.3f} from RL)"
    )
    print(f"training speed: {ppo.history[-1]['env_steps_per_s']:.0f} env steps/s")
    plot = save_plot(pre.history, ppo.history, run / "learning_curve.png")
    if plot:
        print(f"learning curve: {plot}")


if __name__ == "__main__":
    main()
