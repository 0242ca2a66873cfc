"""`make demo`: ``textgen-rl fit`` on typing noise: baselines, pre-training, then RL on the edit distance.

On ``spelling`` (a corpus sentence with dropped, doubled, swapped and mistyped
characters; the clean sentence is the target) it runs the whole of ``fit`` on a short
budget (DEMO_PRETRAIN_EPOCHS epochs, DEMO_RL_STEPS env steps; ``textgen-rl fit --task
spelling`` runs fit's own, about 6 minutes): copying the prompt as the bar, supervised pre-training, PPO fine-tuning on
the edit-distance reward, the report (``runs/demo/report.md``) and the learning curves
(``runs/demo/learning_curve.png``). Then it shows held-out corrections next to their
noisy input. ``--task reverse_text`` runs the same on reversing sentences.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.runs.threads import TRAINING_THREADS, configure_threads

EXAMPLES = 5
# A demo as long as the one before fit (about 3 minutes on 2 cores): fit's own budget for spelling (up to 50 epochs and
# 242K env steps) takes about 6 minutes for 0.998 held-out; 10 epochs already pass copying the prompt by far.
DEMO_PRETRAIN_EPOCHS, DEMO_RL_STEPS = 10, 50_000


def example_indices(task) -> list[int]:
    """The first held-out pair of each of the first EXAMPLES targets (spelling holds several noisy variants of each)."""
    first: dict[str, int] = {}
    for i, target in enumerate(task.target_texts):
        first.setdefault(target, i)
        if len(first) == EXAMPLES:
            break
    return list(first.values())


def show_examples(checkpoint: Path, env) -> None:
    from agents.inference import load
    from textgen_env.task import TextTask

    loaded = load(checkpoint, "cpu")
    test = TextTask(env.task_config("test", loaded.tokenizer))
    indices = example_indices(test)
    texts = loaded.generate([test.dataset.prompts[i] for i in indices])
    print("\nheld-out examples (prompt -> the fitted policy's text):")
    for i, text in zip(indices, texts):
        mark = "ok" if text == test.target_texts[i] else f"target {test.target_texts[i]!r}"
        print(f"  {test.dataset.prompts[i]!r:48} -> {text!r}  ({mark})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["spelling", "reverse_text"], default="spelling", help="(default: spelling)")
    parser.add_argument("--run-dir", default="runs/demo", help="numbered _2, _3, ... when it holds an earlier demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pretrain-epochs", type=int, default=DEMO_PRETRAIN_EPOCHS, help="(default: %(default)s)")
    parser.add_argument("--rl-steps", type=int, default=DEMO_RL_STEPS, help="(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help=f"torch threads (default: {TRAINING_THREADS})")
    args = parser.parse_args(argv)
    # Before torch loads: beside another busy process, torch's default of one spinning thread per core waits on a
    # descheduled sibling at every parallel region (benchmarks/results/train_speed.md).
    configure_threads(args.threads, default=TRAINING_THREADS)
    from agents.fit import FitConfig, fit
    from agents.runs.config import EnvConfig
    from agents.runs.rundir import claim_free

    env = EnvConfig(task=args.task)
    config = FitConfig(
        env=env,
        run_dir=claim_free(args.run_dir),  # a second demo never touches the first
        seed=args.seed,
        pretrain_epochs=args.pretrain_epochs,
        rl_steps=args.rl_steps,
    )
    result = fit(config)
    show_examples(Path(result["checkpoint"]), env)
    print(
        f"\nheld-out similarity: copy the prompt {result['copy_similarity']:.3f} -> pre-trained"
        f" {result['pretrained_similarity']:.3f} -> final {result['final_similarity']:.3f} ({result['kept']});"
        f" report: {Path(result['run_dir']) / 'report.md'}"
    )
    print(f"try it: textgen-rl generate {result['checkpoint']} --prompt 'The od cat sleesp on teh warm mat.'")


if __name__ == "__main__":
    main()
