"""`fit`: a user's pairs in, a better generator out, each stage measured against the one before.

1. **Baseline.** Copying the prompt, scored on the held-out pairs: the bar a generator must clear.
2. **Pre-training** (teacher forcing, :class:`agents.algorithms.pretrain.Pretrain`), one epoch at a time, each
   scored on a validation split carved from the training pairs; it stops once validation stops improving, and
   the best epoch's weights are kept.
3. **Fine-tuning** with PPO on the task's own edit-distance reward, from the kept weights (a gentle learning
   rate, a KL penalty towards the start, the value head trained alone first, new prompts where the task can make
   them), scored on validation at points along the way; its best weights are kept only where they beat the
   pre-trained ones on validation.
4. **Report**: the kept policy as ``DIR/checkpoint.pt`` (read by ``evaluate`` and ``generate``), and what each
   stage scores on the test split, which no choice ever looks at: ``DIR/report.md``, a figure, one JSON line.

The fit's folder holds its state (``fit.json``, written atomically after every step) and its stages' own runs
(``DIR/pretrain``, ``DIR/finetune``), so Ctrl-C stops it after a checkpoint and ``fit --resume DIR``
continues at the stage, and the epoch or chunk, where it stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from agents.algorithms.configs import PPOConfig, PretrainConfig
from agents.fit.config import FitConfig
from agents.fit.plan import DataSummary, FitPlan
from agents.fit.report import write_report
from agents.model.config import PolicyConfig
from agents.model.evaluation import copy_scores, evaluate_policy
from agents.runs.checkpoint import Checkpoint
from agents.runs.rundir import CHECKPOINT_NAME, RunDirectory, RunDirError, claim_free, remove_entries
from textgen_env.builtin_tasks import makes_new_prompts, new_prompt_options
from textgen_env.files import write_text_atomically
from textgen_env.task import TextTask

STATE_NAME = "fit.json"
STATE_FORMAT = "textgen-rl-fit"
STAGES = ("baseline", "pretrain", "finetune", "report", "done")
BEST_NAME = "best.pt"  # a stage's best weights by validation, beside its run's own checkpoint.pt
FINAL_ALGORITHM = "fit"  # the final checkpoint's: a policy to use or start from, not a run to resume
PRETRAIN_LEARNING_RATE = 3e-3
# Fine-tuning a pre-trained policy (the SPELLING recipe's measurements, benchmarks/results/agent_quality.md): a gentle
# learning rate, a KL penalty towards the start, no entropy bonus.
RL_LEARNING_RATE, RL_KL_COEF = 3e-4, 0.02
SCORES = ("mean_similarity", "mean_difflib_ratio", "exact_rate")
SIGNIFICANCE = 2.0  # standard errors by which fine-tuning must beat pre-training on validation to be kept


def fit(config: FitConfig, progress: bool = True) -> dict:
    """Run a fresh fit to the end; returns the summary that its last stdout line holds."""
    return Fit.start(config).run(progress)


def resume_fit(run_dir: str | os.PathLike, progress: bool = True) -> dict:
    """Continue the fit in `run_dir` at the stage where it stopped."""
    return Fit.resume(run_dir).run(progress)


class Fit:
    """One fit, in its folder: :meth:`start` a fresh one or :meth:`resume` one, then :meth:`run` it."""

    def __init__(self, config: FitConfig, state: dict | None = None):
        """The fit of `config` (its data split three ways and its plan made), continuing from `state` where given."""
        self.config = config
        self.env = replace(config.env, validation_fraction=config.validation_fraction)
        try:
            self.test = TextTask(self.env.task_config("test"))
            tokenizer = self.test.tokenizer  # one vocabulary for every split and stage
            self.validation = TextTask(self.env.task_config("validation", tokenizer))
            train = TextTask(self.env.task_config("train", tokenizer))
        except ValueError as e:
            if "is empty" not in str(e) and "distinct target" not in str(e):
                raise
            raise ValueError(
                f"{config.env.data_name}: too few pairs to fit ({e}). fit holds pairs out to test and to validate on"
                " and trains on the rest: it needs at least 3 distinct pairs, and learns from hundreds"
            ) from None
        self.data = DataSummary.of(train, self.validation, self.test, makes_new_prompts(self.env.task))
        self.plan = FitPlan.make(self.data, config)
        self.fresh = state is None  # nothing of it written yet: its folder must be empty (or overwritten)
        self.state = state or {"format": STATE_FORMAT, "version": 1, "stage": STAGES[0], "wall_s": {}}
        self._folder_lock: RunDirectory | None = None
        self._stage_started = time.perf_counter()

    @property
    def folder(self) -> Path:
        return Path(self.config.run_dir)

    @property
    def resume_command(self) -> str:
        return f"textgen-rl fit --resume {self.folder}"

    @classmethod
    def start(cls, config: FitConfig) -> Fit:
        """A fresh fit: its data checked and its plan made, then its folder (the default one, numbered) claimed."""
        fitted = cls(config)
        if config.run_dir is None:
            fitted.config = replace(config, run_dir=claim_free(f"runs/fit-{config.env.data_name}-{config.seed}"))
        return fitted

    @classmethod
    def resume(cls, run_dir: str | os.PathLike) -> Fit:
        path = Path(run_dir) / STATE_NAME
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunDirError(f"{run_dir}: holds no fit to resume (no {STATE_NAME}); start one with textgen-rl fit") from None
        except (OSError, ValueError) as e:
            raise RunDirError(f"{path}: cannot be read as a fit's state ({e})") from None
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or state.get("stage") not in STAGES:
            raise RunDirError(f"{path}: not a fit's state (format {STATE_FORMAT!r} and a stage of {list(STAGES)} expected)")
        try:
            config = FitConfig.from_dict({**state["config"], "run_dir": str(Path(run_dir)), "overwrite": False})
        except (KeyError, TypeError, ValueError) as e:
            raise RunDirError(f"{path}: its config does not load ({e})") from None
        return cls(config, state)

    # -- the stages -------------------------------------------------------------------------

    def run(self, progress: bool = True) -> dict:
        """Run the stages from the one the state is in; Ctrl-C stops after a checkpoint, resumable."""
        try:
            self._take_folder()
            if self.state["stage"] == STAGES[0]:
                print(f"fit {self.env.data_name!r} in {self.folder}")
                for line in self.plan.describe(self.data):
                    print(f"  {line}")
            self._stage_started = time.perf_counter()
            while self.state["stage"] != "done":
                getattr(self, f"stage_{self.state['stage']}")(progress)
                self._advance()
        except KeyboardInterrupt:
            if self._folder_lock is not None:  # the folder is this fit's: its state may be written
                self._save_state()
            print(f"\nfit interrupted in its {self.state['stage']} stage; continue with: {self.resume_command}")
            raise
        finally:
            self._release_folder()
        result = self.state["result"]
        print(json.dumps(result))
        return result

    def stage_baseline(self, progress: bool) -> None:
        """Copying the prompt, on the validation and test splits."""
        self.state["baseline"] = {
            "validation": scores(copy_scores(self.validation, self.config.validation_pairs)),
            "test": scores(copy_scores(self.test)),
        }
        copy = self.state["baseline"]["test"]
        print(
            f"copying the prompt: held-out similarity {copy['mean_similarity']:.3f}, difflib ratio"
            f" {copy['mean_difflib_ratio']:.3f}, exact {copy['exact_rate']:.1%}"
        )

    def stage_pretrain(self, progress: bool) -> None:
        """Epochs of teacher forcing, each scored on validation, until validation stops improving."""
        from agents.algorithms.pretrain import Pretrain

        record = self.state.setdefault("pretrain", {"evaluations": [], "best": None, "stopped": None})
        run = self._stage_run(Pretrain, self.pretrain_config())
        with _bar(progress, self.plan.pretrain_epochs, run.iteration, "pre-training", "epoch") as bar:
            while not self._pretraining_done(record, run):
                if run.iteration == len(record["evaluations"]):  # every finished epoch is scored: train the next
                    run.learn(progress=bar or False, iterations=1)
                point = {"epoch": run.iteration, "env_steps": run.env_steps, "loss": run.history[-1]["loss"]}
                self._score(run, point, record, "epoch")
                if bar is not None:
                    bar.set_postfix(loss=f"{point['loss']:.4f}", validation=f"{point['validation']:.4f}")
        best = record["best"]
        print(f"pre-training: best validation similarity {best['validation']:.4f}, epoch {best['epoch']}: {record['stopped']}")

    def stage_finetune(self, progress: bool) -> None:
        """PPO from the best pre-trained weights, scored on validation at points along the way."""
        from agents.algorithms.ppo import PPO

        record = self.state.setdefault("finetune", {"evaluations": [], "best": None})
        if self._validation_perfect(self.state["pretrain"]["best"]["validation"]):
            record["skipped"] = "the pre-trained policy scores 1.0 on validation: RL cannot improve on it"
            print(f"fine-tuning skipped: {record['skipped']}")
            return
        run = self._stage_run(PPO, self.finetune_config(self.folder / "pretrain" / BEST_NAME))
        points = [self.plan.rl_steps * k // self.plan.rl_evaluations for k in range(1, self.plan.rl_evaluations + 1)]
        with _bar(progress, self.plan.rl_steps, run.env_steps, "fine-tuning", "step") as bar:
            for until in points[len(record["evaluations"]) :]:
                if run.env_steps < until:
                    run.learn(progress=bar or False, until=until)
                point = {"env_steps": run.env_steps}
                self._score(run, point, record, "env steps")
                if bar is not None:
                    bar.set_postfix(validation=f"{point['validation']:.4f}")

    def stage_report(self, progress: bool) -> None:
        """Keep the better policy as DIR/checkpoint.pt; score the stages on test; write the report and the figure."""
        pretrain, finetune = self.state["pretrain"], self.state.get("finetune", {})
        kept = "finetuned" if finetune.get("best") and rl_clearly_better(pretrain["best"], finetune["best"]) else "pretrained"
        pretrained_path = self.folder / "pretrain" / BEST_NAME
        pretrained = scores(evaluate_policy(Checkpoint.load(pretrained_path).make_policy(pretrained_path).eval(), self.test))
        final = self._write_final(self.folder / "finetune" / BEST_NAME if kept == "finetuned" else pretrained_path)
        test = {
            "copy": self.state["baseline"]["test"],
            "pretrained": pretrained,
            "final": pretrained
            if kept == "pretrained"
            else scores(evaluate_policy(final.make_policy(self.folder / CHECKPOINT_NAME).eval(), self.test)),
        }
        self.state["result"] = self.summary(kept, test)
        self.state["report"] = write_report(self.folder, self.state, self.plan.describe(self.data), self.env.data_name)

    # -- steps within a stage ---------------------------------------------------------------

    def pretrain_config(self) -> PretrainConfig:
        plan = self.plan
        return PretrainConfig(
            env=self.env,
            epochs=plan.pretrain_epochs,
            batch_size=plan.batch_size,
            learning_rate=PRETRAIN_LEARNING_RATE,
            word_dropout=plan.word_dropout,
            label_smoothing=plan.label_smoothing,
            new_prompts=plan.new_prompts,
            average_decay=plan.average_decay,
            length_buckets=True,
            seed=self.config.seed,
            device=self.config.device,
            policy=self.policy_config(),
            run_dir=str(self.folder / "pretrain"),
            checkpoint_every=0,
        )

    def finetune_config(self, pretrained: Path) -> PPOConfig:
        plan, env = self.plan, self.env
        if plan.new_prompts:  # prompts no epoch of pre-training has seen, for the same targets
            env = replace(env, task_options=new_prompt_options(env.task, env.task_options, plan.pretrain_epochs))
        return PPOConfig(
            env=env,
            total_env_steps=plan.rl_steps,
            learning_rate=RL_LEARNING_RATE,
            kl_coef=RL_KL_COEF,
            entropy_coef=0.0,
            value_warmup_steps=plan.value_warmup_steps,
            seed=self.config.seed,
            device=self.config.device,
            policy=self.policy_config(),
            init_checkpoint=str(pretrained),
            run_dir=str(self.folder / "finetune"),
            checkpoint_every=0,
        )

    def policy_config(self) -> PolicyConfig:
        return PolicyConfig(embed_dim=self.plan.embed_dim, hidden_dim=self.plan.hidden_dim, bidirectional=True)

    def _stage_run(self, algorithm, config):
        """The stage's run: resumed from its checkpoint where it has one, else fresh in its own folder."""
        checkpoint = Path(config.run_dir) / CHECKPOINT_NAME
        if checkpoint.exists():
            run = algorithm.resume(checkpoint)
        else:
            run = algorithm(replace(config, overwrite=True), tokenizer=self.test.tokenizer)
        run.resume_command = self.resume_command
        return run

    def _score(self, run, point: dict, record: dict, unit: str) -> None:
        """Score `run`'s policy on validation; keep its weights as the stage's best if they beat the best so far."""
        result = evaluate_policy(run.inference_policy, self.validation, episodes=self.config.validation_pairs)
        point["validation"] = result["mean_similarity"]
        point["validation_scores"] = scores(result)
        best = record["best"]
        if best is None or point["validation"] > best["validation"]:
            run.save(Path(run.config.run_dir) / BEST_NAME)
            record["best"] = {**point, "validation_pairs": result["similarities"]}  # for the paired comparison
        record["evaluations"].append(point)
        self._save_state()

    def _pretraining_done(self, record: dict, run) -> bool:
        evaluations, best = record["evaluations"], record["best"]
        if run.iteration > len(evaluations):  # an epoch trained but not yet scored (interrupted in between)
            return False
        if best is not None and self._validation_perfect(best["validation"]):
            record["stopped"] = "validation is perfect"
        elif best is not None and len(evaluations) - best["epoch"] >= self.plan.patience:
            record["stopped"] = f"no better validation score in {self.plan.patience} epochs"
        elif run.iteration >= self.plan.pretrain_epochs:
            record["stopped"] = f"all {self.plan.pretrain_epochs} epochs"
        return record["stopped"] is not None

    @staticmethod
    def _validation_perfect(similarity: float) -> bool:
        return similarity >= 1.0

    def _write_final(self, source: Path) -> Checkpoint:
        """The kept weights as DIR/checkpoint.pt: a policy with its tokenizer, rules and data (the fit's own env, so
        that ``evaluate`` scores the fit's test split), without a stage's training state."""
        chosen = Checkpoint.load(source)
        final = Checkpoint(
            algorithm=FINAL_ALGORITHM,
            config={**chosen.config, "env": asdict(self.env)},
            tokenizer=chosen.tokenizer,
            policy_config=chosen.policy_config,
            rules=chosen.rules,
            policy=chosen.policy,
            env_steps=chosen.env_steps,
            heldout=chosen.heldout,
        )
        final.save(self.folder / CHECKPOINT_NAME)
        return final

    def summary(self, kept: str, test: dict) -> dict:
        self._charge_time()  # the report stage's own time so far
        pretrain, finetune = self.state["pretrain"], self.state.get("finetune", {})
        evaluations = finetune.get("evaluations", [])
        result = {"run_dir": str(self.folder), "checkpoint": str(self.folder / CHECKPOINT_NAME), "kept": kept}
        for stage, figures in test.items():
            result[f"{stage}_similarity"] = figures["mean_similarity"]
            result[f"{stage}_difflib_ratio"] = figures["mean_difflib_ratio"]
            result[f"{stage}_exact_rate"] = figures["exact_rate"]
        result["pretrained_validation_similarity"] = pretrain["best"]["validation"]
        if finetune.get("best"):
            result["finetuned_validation_similarity"] = finetune["best"]["validation"]
        result["pretrain_epochs"] = len(pretrain["evaluations"])
        result["pretrain_env_steps"] = pretrain["evaluations"][-1]["env_steps"]
        result["rl_env_steps"] = evaluations[-1]["env_steps"] if evaluations else 0
        walls = self.state["wall_s"]
        result.update({f"{stage}_s": round(walls.get(stage, 0.0), 1) for stage in STAGES[:-1]})
        result["wall_s"] = round(sum(walls.values()), 1)
        return result

    # -- the folder and the state -----------------------------------------------------------

    def _take_folder(self) -> None:
        """Hold the fit's folder (one writer). A fresh fit refuses a folder that holds anything, unless overwriting."""
        folder = RunDirectory(self.folder)
        folder.acquire()
        self._folder_lock = folder
        if not self.fresh:
            return
        found = sorted(p.name for p in self.folder.iterdir() if p.name != folder.lock_path.name)
        if found and not self.config.overwrite:
            raise RunDirError(
                f"run folder {self.folder} is not empty ({', '.join(found)}); continue a fit there with"
                f" textgen-rl fit --resume {self.folder}, or replace what it holds with --overwrite"
            )
        remove_entries(self.folder, found)
        self.fresh = False
        self.state["config"] = asdict(self.config)
        self._save_state()

    def _release_folder(self) -> None:
        if self._folder_lock is not None:
            self._folder_lock.release()
            self._folder_lock = None

    def _advance(self) -> None:
        self._charge_time()
        self.state["stage"] = STAGES[STAGES.index(self.state["stage"]) + 1]
        self._save_state()

    def _charge_time(self) -> None:
        """Add the time spent in the current stage since the last charge to its wall seconds."""
        now = time.perf_counter()
        if self.state["stage"] != "done":
            walls = self.state["wall_s"]
            walls[self.state["stage"]] = walls.get(self.state["stage"], 0.0) + now - self._stage_started
        self._stage_started = now

    def _save_state(self) -> None:
        """fit.json, written atomically, the time spent so far charged to the current stage."""
        self._charge_time()
        write_text_atomically(self.folder / STATE_NAME, json.dumps(self.state, indent=1) + "\n")


def rl_clearly_better(pretrained: dict, tuned: dict) -> bool:
    """Whether the fine-tuned policy beats the pre-trained one on validation by more than chance: its mean gain over
    the same pairs exceeds twice the gain's standard error (a paired comparison), so that a gain within the noise
    of a few hundred pairs does not replace the pre-trained policy."""
    gains = np.array(tuned["validation_pairs"]) - np.array(pretrained["validation_pairs"])
    return bool(gains.mean() > SIGNIFICANCE * gains.std(ddof=1) / np.sqrt(len(gains))) if len(gains) > 1 else False


def scores(result: dict) -> dict:
    """The figures a fit keeps of an evaluation."""
    return {key: result[key] for key in SCORES}


@contextlib.contextmanager
def _bar(enabled: bool, total: int, initial: int, description: str, unit: str):
    """A tqdm bar for a stage, or None (not asked for, or tqdm missing)."""
    bar = None
    if enabled:
        with contextlib.suppress(ImportError):
            from tqdm import tqdm

            bar = tqdm(total=total, initial=initial, desc=description, unit=unit, dynamic_ncols=True)
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()
