"""Tasks and datasets as Hugging Face ``datasets`` (the ``llm`` extra), for TRL and other LLM tool kits.

:func:`to_hf_dataset` gives any built-in task or user dataset as a ``Dataset``
(one split) or ``DatasetDict`` (train and test) with the columns ``prompt`` and
``target``, split exactly as the env splits it, so that an LLM and our agents are
scored on the same held-out pairs. The other way, ``dataset=`` (and ``--dataset``)
read a ``.parquet`` file or a folder written by ``Dataset.save_to_disk``
(:func:`textgen_env.datasets.read_hf_pairs`).
"""

from __future__ import annotations

from textgen_env.datasets import SPLITS, TextDataset, require_hf_datasets
from textgen_env.task import resolve_dataset

# The instruction of each built-in task, as a chat's system message (chat=True).
INSTRUCTIONS = {
    "copy": "Repeat the user's text exactly.",
    "reverse": "Write the user's text reversed, character by character. Answer with the reversed text only.",
    "repeat": "Write the user's text twice, with nothing between the two copies.",
    "duplicate": "Write every character of the user's text twice in a row.",
    "sort": "Write the characters of the user's text in sorted order.",
    "addition": "Compute the sum. Answer with the number only.",
    "spelling": "Correct the spelling mistakes in the user's text. Answer with the corrected text only.",
    "reverse_words": "Write the words of the user's text in reverse order.",
    "reverse_text": "Write the user's text reversed, character by character. Answer with the reversed text only.",
    "continue": "Continue the user's text.",
}


def to_hf_dataset(
    task: str | None = None,
    dataset=None,
    split: str | None = "train",
    task_options: dict | None = None,
    chat: bool = False,
    system_prompt: str | None = None,
):
    """`task` or `dataset` (as the env takes them) as a Hugging Face ``Dataset`` with ``prompt`` and ``target``.

    `split`: "train", "test" or "all" (a ``Dataset``), or None for a ``DatasetDict`` of train and test.
    `chat`: prompts as message lists (a system message with `system_prompt`, by default the task's
    instruction, then the user's prompt), as TRL's conversational format expects; plain text otherwise.
    """
    datasets = require_hf_datasets()
    if split is not None and split not in SPLITS:
        raise ValueError(f"split={split!r}: allowed values are {list(SPLITS)} or None (a DatasetDict of train and test)")
    if not isinstance(chat, bool):
        raise ValueError(f"chat={chat!r}: must be True or False")
    full = resolve_dataset(task, dataset, task_options)
    if chat and system_prompt is None and task is None and dataset is None:
        task = "continue"  # the env's default task
    instruction = system_prompt if system_prompt is not None else INSTRUCTIONS.get(task) if dataset is None else None

    def as_hf(part: TextDataset):
        prompts = [_chat_prompt(p, instruction) for p in part.prompts] if chat else part.prompts
        return datasets.Dataset.from_dict({"prompt": prompts, "target": part.targets})

    if split is None:
        return datasets.DatasetDict({name: as_hf(full.split(name)) for name in ("train", "test")})
    return as_hf(full.split(split))


def _chat_prompt(prompt: str, instruction: str | None) -> list[dict]:
    messages = [{"role": "system", "content": instruction}] if instruction else []
    return [*messages, {"role": "user", "content": prompt}]
