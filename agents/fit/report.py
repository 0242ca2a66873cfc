"""What a fit leaves to read: ``report.md`` (what each stage added, on the test split) and its learning curves."""

from __future__ import annotations

from pathlib import Path

from textgen_env.files import write_text_atomically

REPORT_NAME = "report.md"
FIGURE_NAME = "learning_curve.png"


def write_report(folder: Path, state: dict, plan: list[str], data_name: str) -> dict:
    """Write ``report.md`` and (with matplotlib) the figure into `folder`; their paths."""
    figure = save_figure(state, folder / FIGURE_NAME)
    text = report_text(state, plan, data_name, figure)
    path = write_text_atomically(folder / REPORT_NAME, text)
    return {"report": str(path), "figure": str(figure) if figure else None}


def report_text(state: dict, plan: list[str], data_name: str, figure: Path | None) -> str:
    result, pretrain, finetune = state["result"], state["pretrain"], state.get("finetune", {})
    folder = result["run_dir"]
    rows = [
        ("copy the prompt", "copy", "", result.get("baseline_s")),
        (
            f"pre-trained (epoch {pretrain['best']['epoch']} of {len(pretrain['evaluations'])})",
            "pretrained",
            f"{result['pretrain_env_steps']:,} target tokens",
            result.get("pretrain_s"),
        ),
        (
            "final: " + ("+ PPO" if result["kept"] == "finetuned" else "the pre-trained policy (PPO did not improve it)"),
            "final",
            f"{result['rl_env_steps']:,} env steps" if result["rl_env_steps"] else "",
            result.get("finetune_s"),
        ),
    ]
    lines = [
        f"# fit: {data_name}",
        "",
        "## The data and the plan",
        "",
        *[f"- {line}" for line in plan],
        "",
        "## What each stage adds (test split, greedy decoding)",
        "",
        "| stage | similarity | difflib ratio | exact | training | wall |",
        "|---|---|---|---|---|---|",
    ]
    for title, key, training, wall in rows:
        lines.append(
            f"| {title} | {result[f'{key}_similarity']:.4f} | {result[f'{key}_difflib_ratio']:.4f}"
            f" | {result[f'{key}_exact_rate']:.1%} | {training} | {wall or 0:.0f} s |"
        )
    gain = result["final_similarity"] - result["pretrained_similarity"]
    lines += [
        "",
        f"Similarity is normalized Levenshtein similarity over tokens. Total wall time {result['wall_s']:.0f} s.",
        "",
    ]
    lines.append(kept_sentence(result, pretrain, finetune, gain))
    if result["final_similarity"] <= result["copy_similarity"]:
        lines += [
            "",
            f"**The policy does not beat copying the prompt** ({result['final_similarity']:.4f} against"
            f" {result['copy_similarity']:.4f}): more pairs, or pairs of more alike text, would help.",
        ]
    lines += [
        "",
        "## Use it",
        "",
        "```",
        f"textgen-rl evaluate {folder}/checkpoint.pt          # the test split, as above",
        f"textgen-rl generate {folder}/checkpoint.pt --prompt 'your text'",
        "```",
    ]
    if figure is not None:
        lines += ["", f"![learning curves]({figure.name})"]
    return "\n".join(lines) + "\n"


def kept_sentence(result: dict, pretrain: dict, finetune: dict, gain: float) -> str:
    best = pretrain["best"]["validation"]
    if finetune.get("skipped"):
        return f"PPO fine-tuning was skipped: {finetune['skipped']}."
    if result["kept"] == "finetuned":
        return (
            f"PPO raised validation similarity from {best:.4f} to {finetune['best']['validation']:.4f}, so its policy is"
            f" kept; on the test split it adds {gain:+.4f}."
        )
    tuned = finetune.get("best", {}).get("validation")
    reached = f" (its best: {tuned:.4f})" if tuned is not None else ""
    return (
        f"PPO did not raise validation similarity above the pre-trained {best:.4f}{reached} by more than twice the"
        " standard error of its gain over the same pairs, so the pre-trained policy is kept."
    )


def save_figure(state: dict, path: Path) -> Path | None:
    """Validation similarity over pre-training's epochs, and over RL's env steps, with the levels of copying the prompt
    and of the pre-trained policy on the same pairs; None without matplotlib (the 'plots' extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from agents.bench import steps_formatter
    except ImportError:
        return None
    pretrain, finetune = state["pretrain"], state.get("finetune", {})
    copy, pretrained = state["baseline"]["validation"]["mean_similarity"], pretrain["best"]["validation"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = pretrain["evaluations"]
    left.plot([e["epoch"] for e in epochs], [e["validation"] for e in epochs], marker="o", label="pre-training")
    left.axvline(pretrain["best"]["epoch"], color="tab:green", linestyle="--", label="kept")
    ylabel = "held-out (validation) similarity"
    left.set(title="pre-training", xlabel="epoch", ylabel=ylabel)
    points = [(0, pretrained)] + [(e["env_steps"], e["validation"]) for e in finetune.get("evaluations", [])]
    if len(points) > 1:
        right.plot(*zip(*points), marker="o", label="PPO fine-tuning")
    right.set(title="RL fine-tuning on the edit-distance reward", xlabel="env steps", ylabel=ylabel)
    right.xaxis.set_major_formatter(steps_formatter())
    for axes in (left, right):
        axes.axhline(copy, color="tab:gray", linestyle=":", label=f"copying the prompt ({copy:.3f})")
    right.axhline(pretrained, color="tab:green", linestyle="--", label=f"pre-trained ({pretrained:.3f})")
    for axes in (left, right):
        axes.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
