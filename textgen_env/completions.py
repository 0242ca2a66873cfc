"""Score any model's completions on a task, so LLM results and our agents' sit in one table.

``textgen-rl evaluate-completions FILE.jsonl --task reverse`` (or
:func:`evaluate_completions`) reads one JSON object per line with a ``completion``
(text, or a list of messages) and either a ``target`` or the ``prompt`` it answered
(then the target is looked up in the task's split). It reports what ``textgen-rl
evaluate`` reports for our agents (``mean_similarity``: normalized Levenshtein
similarity; ``exact_rate``; ``mean_distance`` in the chosen metric) and difflib's
``SequenceMatcher.ratio()``, which LLM RL tool kits publish.
"""

from __future__ import annotations

from textgen_env.datasets import read_jsonl
from textgen_env.rewards import METRICS
from textgen_env.task import resolve_dataset
from textgen_env.trl import completion_text, difflib_ratio, score_text


def score_completions(completions: list[str], targets: list[str], metric: str = "levenshtein") -> dict:
    """Mean scores of `completions` against `targets` (texts, compared character by character)."""
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r}: allowed values are {sorted(METRICS)}")
    if len(completions) != len(targets) or not completions:
        raise ValueError(f"{len(completions)} completions for {len(targets)} targets: give the same number, at least one")
    count = len(completions)

    def mean(values) -> float:
        return sum(values) / count

    pairs = list(zip(completions, targets))
    return {
        "count": count,
        "mean_similarity": mean(score_text(c, t) for c, t in pairs),
        "exact_rate": mean(float(c == t) for c, t in pairs),
        "mean_distance": mean(METRICS[metric].measure(c, t) for c, t in pairs),
        f"mean_{metric}_similarity": mean(score_text(c, t, metric) for c, t in pairs),
        "mean_difflib_ratio": mean(difflib_ratio(c, t) for c, t in pairs),
    }


def evaluate_completions(
    path: str, task: str | None = None, dataset=None, split: str = "test", task_options=None, metric: str = "levenshtein"
) -> dict:
    """Score a ``.jsonl`` file of completions (see the module docstring); targets missing from a line are
    looked up by its prompt in `task` / `dataset`'s `split`."""
    records = []
    for number, record, line in read_jsonl(path):
        if not isinstance(record, dict) or "completion" not in record:
            raise ValueError(f"{path}:{number}: expected an object with a 'completion', got {line[:80]!r}")
        try:
            text = completion_text(record["completion"])
        except ValueError as e:
            raise ValueError(f"{path}:{number}: {e}") from None
        records.append((number, record, text))
    if not records:
        raise ValueError(f"{path}: no completions in the file")
    needs_lookup = any(not isinstance(record.get("target"), str) for _, record, _ in records)
    targets_of = _targets_by_prompt(task, dataset, split, task_options) if needs_lookup else {}
    targets = []
    for number, record, _ in records:
        if isinstance(record.get("target"), str):
            targets.append(record["target"])
            continue
        found = targets_of.get(record.get("prompt"), [])
        if len(set(found)) != 1:
            why = "is not in" if not found else f"has {len(set(found))} different targets in"
            raise ValueError(f"{path}:{number}: prompt {record.get('prompt')!r} {why} the {split} split; give a 'target'")
        targets.append(found[0])
    return score_completions([text for _, _, text in records], targets, metric)


def _targets_by_prompt(task, dataset, split: str, task_options) -> dict[str, list[str]]:
    if task is None and dataset is None:
        raise ValueError("lines without a 'target' need the task or dataset their prompts come from (--task or --dataset)")
    targets: dict[str, list[str]] = {}
    for pair in resolve_dataset(task, dataset, task_options).split(split).pairs:
        targets.setdefault(pair.prompt, []).append(pair.target)
    return targets
