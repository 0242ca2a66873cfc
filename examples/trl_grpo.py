"""Fine-tune a small instruct model with TRL's GRPO on one of our tasks, rewarded by edit distance.

On a GPU machine with the model at hand (the `llm` extra installed)::

    python examples/trl_grpo.py --model Qwen/Qwen2.5-0.5B-Instruct --task spelling --steps 500

It trains on the task's train split (chat prompts with the task's instruction), with
``textgen_env.trl.similarity_reward()`` as the reward, then greedily answers the
test split's prompts and prints the scores ``textgen-rl evaluate`` gives our agents,
plus difflib's ratio, before and after training. ``--tiny`` swaps the model for a
randomly initialized one built from a config (no download), to try the pipeline on a CPU.
"""

from __future__ import annotations

import argparse
import json

import torch
from tokenizers import Tokenizer, decoders, models
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from trl import GRPOConfig, GRPOTrainer

from textgen_env import to_hf_dataset
from textgen_env.completions import score_completions
from textgen_env.trl import similarity_reward

TINY_LETTERS = "abcdefghijklmnopqrstuvwxyz .,'"


def tiny_language_model(letters: str = TINY_LETTERS):
    """A randomly initialized causal LM and a character tokenizer, built from configs (nothing downloaded)."""
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    vocab = {token: i for i, token in enumerate(specials + sorted(set(letters) - set(specials)))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))  # no merges: one token per character
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    )
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    return LlamaForCausalLM(config), tokenizer


def make_trainer(model, tokenizer, train_dataset, reward_funcs, output_dir: str, steps: int, **settings) -> GRPOTrainer:
    """GRPO with small defaults that fit one GPU (and, for a tiny model, a CPU); `settings` override GRPOConfig's."""
    on_gpu = torch.cuda.is_available()
    config = GRPOConfig(
        **{
            "output_dir": output_dir,
            "max_steps": steps,
            "per_device_train_batch_size": 8,
            "num_generations": 8,
            "max_completion_length": 128,
            "learning_rate": 1e-6 if on_gpu else 1e-3,
            "logging_steps": 10,
            "report_to": "none",
            "save_strategy": "no",
            "bf16": on_gpu,
            "use_cpu": not on_gpu,
            "seed": 0,
            **settings,
        }
    )
    return GRPOTrainer(
        model=model, reward_funcs=reward_funcs, args=config, train_dataset=train_dataset, processing_class=tokenizer
    )


@torch.no_grad()
def evaluate(model, tokenizer, test_dataset, max_new_tokens: int = 128) -> dict:
    """Greedy answers to the test prompts, scored with our metrics and difflib's ratio."""
    texts = []
    for row in test_dataset:
        prompt = row["prompt"]
        if isinstance(prompt, list) and tokenizer.chat_template:
            prompt = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        elif isinstance(prompt, list):  # no chat template (the tiny model): the user's text alone
            prompt = prompt[-1]["content"]
        inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        texts.append(tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip())
    return score_completions(texts, list(test_dataset["target"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct", help="a causal LM to fine-tune (a name or a folder)")
    parser.add_argument("--tiny", action="store_true", help="a tiny random model instead (no download), for a CPU")
    parser.add_argument("--task", default="spelling", help="a built-in task of textgen_env")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--eval-pairs", type=int, default=100, help="test pairs scored before and after")
    parser.add_argument("--output-dir", default="runs/trl-grpo")
    args = parser.parse_args()
    if args.tiny:
        model, tokenizer = tiny_language_model()
    else:
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype="auto")
    chat = tokenizer.chat_template is not None
    train = to_hf_dataset(task=args.task, split="train", chat=chat)
    test = to_hf_dataset(task=args.task, split="test", chat=chat).select(range(args.eval_pairs))
    settings = {"max_completion_length": 16, "per_device_train_batch_size": 4, "num_generations": 4} if args.tiny else {}
    trainer = make_trainer(model, tokenizer, train, [similarity_reward()], args.output_dir, args.steps, **settings)
    before = evaluate(trainer.model, tokenizer, test)
    trainer.train()
    after = evaluate(trainer.model, tokenizer, test)
    print(json.dumps({"task": args.task, "model": "tiny" if args.tiny else args.model, "before": before, "after": after}))


if __name__ == "__main__":
    main()
