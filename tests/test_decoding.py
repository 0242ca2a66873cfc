"""What decoding guarantees: greedy, sampling (temperature, top-k, top-p) and beam search."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="install the 'agents' extra")

from agents.model.decoding import (  # noqa: E402
    DecodingConfig,
    beam_search,
    decode_ids,
    filter_logits,
    pad_rows,
)
from agents.model.policy import (  # noqa: E402
    ActorCritic,
    PolicyConfig,
    masked,
)
from textgen_env.task import TextTask  # noqa: E402
from textgen_env.tokenizers import BOS_ID, EOS_ID  # noqa: E402


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "copy-head"])
def setup(request):
    torch.manual_seed(7)
    task = TextTask(task="reverse", split="test", min_new_tokens=0)
    policy = ActorCritic(task.vocab_size, PolicyConfig(embed_dim=16, hidden_dim=32, copy_head=request.param)).eval()
    with torch.no_grad():  # sharper than at initialisation, so that greedy and beam choices differ
        policy.policy_head.weight.mul_(8.0)
    return policy, task, task.prompt_ids[:40]


def sequence_log_prob(policy, task, prompt, ids):
    """The policy's total log-probability of writing `ids` (then EOS, unless at the budget), teacher-forced."""
    actions = ids + ([EOS_ID] if len(ids) < task.max_new_tokens else [])
    inputs = [BOS_ID] + actions[:-1]
    masks = torch.from_numpy(task.rules.action_masks(np.arange(len(actions))))[None]
    with torch.no_grad():
        log_probs, _, _ = policy.evaluate_actions(
            pad_rows([prompt], "cpu"), torch.tensor([inputs]), torch.tensor([actions]), masks
        )
    return float(log_probs.sum())


def test_greedy_log_probs_are_the_policys(setup):
    policy, task, prompts = setup
    ids, scores = decode_ids(policy, task.rules, prompts)
    for prompt, row, score in zip(prompts, ids, scores):
        assert score == pytest.approx(sequence_log_prob(policy, task, prompt, row), abs=1e-4)


def test_beam_of_one_is_greedy(setup):
    policy, task, prompts = setup
    greedy_ids, greedy_scores = decode_ids(policy, task.rules, prompts)
    memory = policy.encode(pad_rows(prompts, "cpu"))
    with torch.no_grad():
        beam_ids, beam_scores = beam_search(policy, task.rules, memory, beams=1, length_penalty=1.0)
    assert beam_ids == greedy_ids
    np.testing.assert_allclose(beam_scores, greedy_scores, atol=1e-6)


@pytest.mark.parametrize("beams", [2, 4, 8])
def test_a_wider_beam_never_scores_below_greedy(setup, beams):
    policy, task, prompts = setup
    _, greedy = decode_ids(policy, task.rules, prompts)
    ids, scores = decode_ids(policy, task.rules, prompts, DecodingConfig(beam=beams, length_penalty=0.0))
    assert all(s >= g - 1e-9 for s, g in zip(scores, greedy))
    for prompt, row, score in zip(prompts[:10], ids, scores):  # a beam's score is the policy's log-probability of its text
        assert score == pytest.approx(sequence_log_prob(policy, task, prompt, row), abs=1e-4)


def test_plain_beam_search_finds_better_texts_than_greedy_somewhere(setup):
    policy, task, prompts = setup
    _, greedy = decode_ids(policy, task.rules, prompts)
    memory = policy.encode(pad_rows(prompts, "cpu"))
    with torch.no_grad():
        _, beam = beam_search(policy, task.rules, memory, beams=8, length_penalty=0.0)
    assert sum(b > g + 1e-6 for b, g in zip(beam, greedy)) >= 1  # the search is not a no-op


def test_top_k_one_and_near_zero_temperature_are_greedy(setup):
    policy, task, prompts = setup
    greedy, _ = decode_ids(policy, task.rules, prompts)
    assert decode_ids(policy, task.rules, prompts, DecodingConfig(sample=True, top_k=1, seed=3))[0] == greedy
    assert decode_ids(policy, task.rules, prompts, DecodingConfig(sample=True, temperature=1e-6, seed=3))[0] == greedy


def test_sampling_with_a_seed_repeats_and_leaves_the_global_rng_alone(setup):
    policy, task, prompts = setup
    state = torch.get_rng_state()
    first = decode_ids(policy, task.rules, prompts, DecodingConfig(sample=True, seed=11))[0]
    assert torch.equal(torch.get_rng_state(), state)
    assert decode_ids(policy, task.rules, prompts, DecodingConfig(sample=True, seed=11))[0] == first
    assert decode_ids(policy, task.rules, prompts, DecodingConfig(sample=True, seed=12))[0] != first
    assert decode_ids(policy, task.rules, prompts)[0] != first  # sampling is not greedy here


def test_sampled_and_beam_texts_respect_the_action_masks(setup):
    policy, task, prompts = setup
    for decoding in (DecodingConfig(sample=True, top_p=0.9, seed=1), DecodingConfig(beam=4)):
        for row in decode_ids(policy, task.rules, prompts, decoding)[0]:
            assert len(row) <= task.max_new_tokens and all(task.rules.producible[t] for t in row)


def test_filters_keep_the_top_k_and_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = lambda out: (out > -1e8)[0].tolist()  # noqa: E731
    assert kept(filter_logits(logits, 1.0, 2, 1.0)) == [True, True, False, False]
    assert kept(filter_logits(logits, 1.0, 0, 0.5)) == [True, False, False, False]  # 0.5 alone reaches p
    assert kept(filter_logits(logits, 1.0, 0, 0.8)) == [True, True, False, False]
    assert kept(filter_logits(logits, 1.0, 0, 0.81)) == [True, True, True, False]
    masked_logits = masked(logits, torch.tensor([[False, True, True, True]]))
    assert kept(filter_logits(masked_logits, 1.0, 1, 1.0)) == [False, True, False, False]  # never revives a masked token


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": 0}, "temperature=0"),
        ({"top_k": -1}, "top_k=-1"),
        ({"top_p": 0}, "top_p=0"),
        ({"beam": 0}, "beam=0"),
        ({"beam": 3, "sample": True}, "exclude each other"),
    ],
)
def test_bad_decoding_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DecodingConfig(**kwargs)


def test_beam_search_in_chunks_of_rows_gives_the_same_texts(setup, monkeypatch):
    from agents.model import decoding

    policy, task, prompts = setup
    config = DecodingConfig(beam=4)
    whole = decode_ids(policy, task.rules, prompts, config)
    seen = []
    original = decoding.beam_search
    monkeypatch.setattr(decoding, "BEAM_CANDIDATES", 4 * policy.vocab_size * 3)  # three rows of candidates at a time
    monkeypatch.setattr(
        decoding, "beam_search", lambda p, r, memory, *a: seen.append(len(memory.states)) or original(p, r, memory, *a)
    )
    chunked = decode_ids(policy, task.rules, prompts, config)
    assert chunked[0] == whole[0] and chunked[1] == pytest.approx(whole[1], abs=1e-4)  # float32 sums over other widths
    assert max(seen) == 3 and sum(seen) == len(prompts)  # memory bounded by the chunk, not by the prompts


def test_long_prompts_are_cut_and_unknown_tokens_counted_in_one_warning(setup):
    from agents.model.decoding import encode_prompts

    _, task, _ = setup
    width = task.rules.max_prompt_tokens
    prompts = ["abc", "a" * (width + 5), "ab€€c", "b" * (width + 1)]
    with pytest.warns(UserWarning) as caught:
        ids = encode_prompts(task.tokenizer, task.rules, prompts)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert f"2 of 4 prompts are longer than the {width} tokens the policy trained with: cut" in message
    assert "2 prompt tokens are unknown to its tokenizer" in message
    assert [len(i) for i in ids] == [3, width, 5, width]


def test_evaluation_reports_difflibs_ratio_of_the_texts(setup):
    import difflib

    from agents.model.evaluation import evaluate_policy

    policy, task, _ = setup
    result = evaluate_policy(policy, task, episodes=20)
    texts, targets = result["texts"], task.target_texts[:20]
    expected = np.mean([difflib.SequenceMatcher(None, g, t).ratio() for g, t in zip(texts, targets)])
    assert result["mean_difflib_ratio"] == pytest.approx(expected) and 0.0 < expected < 1.0
