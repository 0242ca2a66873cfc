"""`make demo`: learn to correct typing noise: pre-training, then RL on the edit distance (about 3 minutes on 2 cores).

On ``spelling`` (a corpus sentence with dropped, doubled, swapped and mistyped
characters; the clean sentence is the target) it pre-trains the policy on the
noisy -> clean pairs, then fine-tunes it with PPO on the edit-distance reward the
task is judged by. It prints held-out corrections next to the noisy input, with
the mean similarity of copying the input unchanged, of the pre-trained policy and
of the fine-tuned one, and saves the learning curve (held-out greedy similarity over env steps, with the
copy and pre-trained levels) to ``runs/demo/learning_curve.png``.
``--task continue`` runs the same recipe on finishing English sentences.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.algorithms.ppo import PPO
from agents.algorithms.pretrain import Pretrain
from agents.model.evaluation import copy_baseline, evaluate_policy
from agents.recipes import CONTINUE, SPELLING
from agents.runs.rundir import next_free
from textgen_env.task import TextTask

EXAMPLES = 5
CURVE_POINTS = 6  # held-out greedy evaluations along the fine-tuning
RECIPES = {"spelling": SPELLING, "continue": CONTINUE}


def example_indices(task: TextTask) -> list[int]:
    """The first held-out pair of each of the first EXAMPLES targets (spelling holds several noisy variants of each)."""
    first: dict[str, int] = {}
    for i, target in enumerate(task.target_texts):
        first.setdefault(target, i)
        if len(first) == EXAMPLES:
            break
    return list(first.values())


def show(title: str, result: dict, task: TextTask) -> float:
    print(f"\n== {title}: held-out mean similarity {result['mean_similarity']:.3f}, exact {result['exact_rate']:.1%}")
    for i in example_indices(task):
        prompt, text, target = task.dataset.prompts[i], result["texts"][i], task.target_texts[i]
        mark = "ok" if text == target else f"target {target!r}"
        print(f"  {prompt!r:48} -> {text!r}  ({mark})")
    return result["mean_similarity"]


def finetune(agent, steps: int, test: TextTask, start: float) -> tuple[list[tuple[int, float]], dict]:
    """Fine-tune `agent` for `steps` env steps in CURVE_POINTS chunks: the curve of (env steps, greedy
    similarity on `test`) after each, starting from the pre-trained policy's `start`, and the last evaluation."""
    curve = [(0, start)]
    for point in range(1, CURVE_POINTS + 1):
        agent.learn(until=steps * point // CURVE_POINTS)
        result = evaluate_policy(agent.policy, test)
        curve.append((agent.env_steps, result["mean_similarity"]))
        print(f"  {curve[-1][0]:>9,} env steps: held-out similarity {curve[-1][1]:.3f}")
    return curve, result


def save_plot(
    pretrain_history: list[dict], curve: list[tuple[int, float]], baseline: float, pretrained: float, path: Path
) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from agents.bench import steps_formatter
    except ImportError:
        print("(no learning-curve plot: install the 'plots' extra, pip install 'textgen-env[plots]')")
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot([r["iteration"] for r in pretrain_history], [r["loss"] for r in pretrain_history], marker="o")
    left.set(title="pre-training", xlabel="epoch", ylabel="teacher-forced loss (nats/token)")
    right.plot(*zip(*curve), marker="o", label="fine-tuned (greedy)")
    right.axhline(pretrained, color="tab:green", linestyle="--", label=f"pre-trained start ({pretrained:.3f})")
    right.axhline(baseline, color="tab:gray", linestyle=":", label=f"copying the prompt ({baseline:.3f})")
    right.set(title="RL fine-tuning on the edit-distance reward", xlabel="env steps", ylabel="held-out similarity")
    right.xaxis.set_major_formatter(steps_formatter())
    right.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=list(RECIPES), default="spelling", help="the recipe's task (default: spelling)")
    parser.add_argument("--pretrain-epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--ppo-steps", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--run-dir", default="runs/demo", help="numbered _2, _3, ... when it holds an earlier demo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    recipe = RECIPES[args.task]
    epochs, steps = args.pretrain_epochs or recipe.pretrain_epochs, args.ppo_steps or recipe.ppo_steps
    run = Path(next_free(args.run_dir))  # a second demo never touches the first

    pre = Pretrain(recipe.pretrain_config(args.seed, str(run / "pretrain"), epochs))
    test = pre.heldout_task()
    baseline = copy_baseline(test)
    print(f"task {recipe.task!r}: {len(pre.task.dataset)} training pairs, {len(test.dataset)} held out")
    print(f"copying the prompt unchanged scores a held-out mean similarity of {baseline:.3f}")

    print(f"\npre-training for {epochs} epochs (teacher forcing on the targets) ...")
    pre.learn(progress=True)
    pretrained = show("pre-trained", pre.evaluate(), test)

    changed = ", ".join(f"{k}={v}" for k, v in recipe.finetune_task_options.items())
    print(
        f"\nPPO fine-tuning for {steps:,} env steps on the edit-distance reward"
        f" (KL penalty towards the pre-trained policy{'; new prompts: ' + changed if changed else ''}) ..."
    )
    ppo = PPO(recipe.finetune_config(args.seed, str(run / "pretrain" / "checkpoint.pt"), str(run / "ppo"), steps))
    curve, last = finetune(ppo, steps, test, pretrained)
    finetuned = show("pre-trained + PPO", last, test)

    print(
        f"\nheld-out similarity: copy the prompt {baseline:.3f} -> pre-trained {pretrained:.3f}"
        f" -> + PPO {finetuned:.3f} ({finetuned - pretrained:+.3f} from RL, {finetuned - baseline:+.3f} over copying)"
    )
    plot = save_plot(pre.history, curve, baseline, pretrained, run / "learning_curve.png")
    if plot:
        print(f"learning curve: {plot}")
    print(f"try it: textgen-rl generate {run / 'ppo' / 'checkpoint.pt'} --prompt 'The od cat sleesp on teh warm mat.'")


if __name__ == "__main__":
    main()
