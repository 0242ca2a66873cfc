"""The episode cores' incremental edit distances (textgen_env.core) against rapidfuzz."""

import numpy as np
import pytest
from rapidfuzz.distance import Indel, Levenshtein

from textgen_env.core import numba_core, numpy_rows

REFERENCE = {1: Levenshtein.distance, 2: Indel.distance}


def run_batch(generations, targets, cost):
    width = max(1, max(len(t) for t in targets))
    padded = np.full((width, len(targets)), -1, dtype=np.int32)  # position-first
    for i, t in enumerate(targets):
        padded[: len(t), i] = t
    lengths = np.array([len(t) for t in targets])
    rows = numpy_rows.initial_rows((len(targets),), width)
    offsets = numpy_rows.reachable_offsets(lengths, width)
    steps = max(len(g) for g in generations)
    compared = 0
    for n in range(steps + 1):
        prefixes = [g[:n] for g in generations]
        expected = [REFERENCE[cost](p, t) for p, t in zip(prefixes, targets)]
        best = [min(REFERENCE[cost](p, t[:j]) for j in range(len(t) + 1)) for p, t in zip(prefixes, targets)]
        live = np.array([n <= len(g) for g in generations])
        got = numpy_rows.distance_at(rows, lengths)
        np.testing.assert_array_equal(got[live], np.array(expected)[live])
        np.testing.assert_array_equal(numpy_rows.best_reachable(rows, offsets)[live], np.array(best)[live])
        compared += int(live.sum())
        if n < steps:
            tokens = np.array([g[n] if n < len(g) else 0 for g in generations])
            advanced = numpy_rows.advance_rows(rows, padded, tokens, cost)
            rows = np.where(np.array([n < len(g) for g in generations])[None, :], advanced, rows)
    return compared


@pytest.mark.parametrize("cost", [1, 2])
@pytest.mark.parametrize("target_length", [0, 1, 5, 64, 65])
def test_batched_kernel_matches_rapidfuzz(cost, target_length):
    rng = np.random.default_rng(target_length + 10 * cost)
    targets = [list(rng.integers(4, 8, size=rng.integers(0, target_length + 1))) for _ in range(6)] + [
        list(rng.integers(4, 8, size=target_length))
    ]
    # generations shorter and longer than the targets, some copying them with noise
    generations = []
    for t in targets:
        g = [x if rng.random() < 0.7 else int(rng.integers(4, 8)) for x in t] + list(
            rng.integers(4, 8, size=rng.integers(0, 4))
        )
        generations.append(g[: rng.integers(0, len(g) + 1)] if rng.random() < 0.3 else g)
    generations.append([])
    targets.append([5] * target_length)
    assert run_batch(generations, targets, cost) >= len(targets)


@pytest.mark.parametrize("cost", [1, 2])
def test_wide_batches_take_the_doubling_scan_and_still_match(cost):
    rng = np.random.default_rng(cost)
    targets = [list(rng.integers(4, 7, size=rng.integers(0, 20))) for _ in range(numpy_rows._ACCUMULATE_MAX_BATCH + 9)]
    generations = [list(rng.integers(4, 7, size=rng.integers(0, 25))) for _ in targets]
    assert run_batch(generations, targets, cost) > 4 * len(targets)


def test_running_minimum_paths_agree():
    values = np.random.default_rng(0).integers(-50, 50, size=(37, 100)).astype(np.int32)
    expected = np.minimum.accumulate(values, axis=0)
    np.testing.assert_array_equal(numpy_rows.running_minimum(values.copy()), expected)


@pytest.mark.parametrize("metric", ["levenshtein", "indel"])
@pytest.mark.parametrize(
    "backend",
    [pytest.param("numba", marks=pytest.mark.skipif(not numba_core.AVAILABLE, reason="numba is not installed")), "numpy"],
)
def test_each_core_matches_rapidfuzz(metric, backend):
    """Each core's distances and best-reachable potentials, on targets of 0 to 130 tokens (0 to 3 words)."""
    from textgen_env.vector import TextGenerationVectorEnv

    rng = np.random.default_rng(3)
    targets = ["", "a"] + ["".join(rng.choice(list("abc"), size=n)) for n in (64, 65, 130)]
    env = TextGenerationVectorEnv(
        5, dataset=[("p", t) for t in targets], split="all", metric=metric, max_new_tokens=140, backend=backend
    )
    obs, _ = env.reset(seed=0, options={"index": np.arange(5)})
    target_ids = [env.task.target_ids[int(i)] for i in range(5)]
    scales = [max(1, len(t)) for t in target_ids]
    distance = REFERENCE[2 if metric == "indel" else 1]

    def best_reachable(generated, target):
        return min(distance(generated, target[:j]) for j in range(len(target) + 1))

    potentials = [0.0] * 5
    for _ in range(70):  # 70 tokens: past the short targets, short of the long one
        actions = rng.integers(4, env.task.vocab_size, size=5)
        obs, rewards, terminated, _, info = env.step(actions)
        assert not terminated.any()
        for i in range(5):
            generated = obs["generated"][i][obs["generated"][i] != 0].tolist()
            assert info["distance"][i] == distance(generated, target_ids[i])
            potential = -best_reachable(generated, target_ids[i]) / scales[i]
            assert rewards[i] == pytest.approx(potential - potentials[i], abs=1e-12)
            potentials[i] = potential
