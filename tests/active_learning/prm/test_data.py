import pytest

from active_learning.prm.data import IGNORE, SolutionExample, StepEncoder, collate, ratings_to_labels


def test_labels_stop_after_first_error_and_map_neutral():
    assert ratings_to_labels([1, 0, -1, 1, -1]) == (1, 1, 0, None, None)
    assert ratings_to_labels([1, 0, 1], neutral="ignore") == (1, None, 1)
    # A neutral counted as an error is the first error: nothing after it is used.
    assert ratings_to_labels([1, 0, 1], neutral="negative") == (1, 0, None)
    assert ratings_to_labels([1, None, 1]) == (1, None, 1)
    with pytest.raises(ValueError, match="rating"):
        ratings_to_labels([2])


def test_first_error_is_known_only_when_labels_pin_it_down():
    assert SolutionExample("p", ("a", "b"), (1, 0)).first_error == 1
    assert SolutionExample("p", ("a", "b"), (1, 1)).first_error == -1
    assert SolutionExample("p", ("a", "b"), (None, None)).first_error is None
    with pytest.raises(ValueError):
        SolutionExample("p", ("a", "b"), (1,))


@pytest.fixture
def bert_tokenizer(tiny_bert_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bert_dir, local_files_only=True)


def test_each_step_label_sits_on_its_separator(bert_tokenizer):
    enc = StepEncoder(bert_tokenizer, separator="[SEP]", max_length=128, max_problem_tokens=40)
    out = enc.encode("natalia sold 48 clips", ["48 / 2 = 24", "48 + 24 = 72", "the answer is 72"], [1, 0, None])
    assert not out.truncated and len(out.windows) == 1
    w = out.windows[0]
    sep = bert_tokenizer.sep_token_id
    assert w.input_ids[0] == bert_tokenizer.cls_token_id
    assert [w.input_ids[p] for p in w.positions] == [sep, sep, sep]
    assert w.steps == [0, 1, 2]
    assert w.labels == [1, 0, IGNORE]
    # Between consecutive label positions lies exactly the step's own text.
    second = bert_tokenizer.decode(w.input_ids[w.positions[0] + 1 : w.positions[1]])
    assert second.replace(" ", "") == "48+24=72"
    ids, mask, labels = collate(out.windows, enc.pad_id)
    assert labels[0, w.positions[1]].item() == 0 and (labels != IGNORE).sum().item() == 2
    assert mask.sum().item() == len(w.input_ids)


def test_long_solutions_are_windowed_every_step_scored_once_and_truncation_reported(bert_tokenizer):
    enc = StepEncoder(bert_tokenizer, separator="[SEP]", max_length=48, max_problem_tokens=16)
    steps = [f"step {i} has total {i * 11} dollars" for i in range(12)]
    out = enc.encode("the problem " * 30, steps, [1] * 12)
    assert out.truncated
    assert len(out.windows) > 1
    scored = [s for w in out.windows for s in w.steps]
    assert scored == list(range(12))
    for w in out.windows:
        assert len(w.input_ids) <= 48
    # Later windows start with context: the previous steps, unlabeled.
    assert out.windows[1].positions[0] > 16


def test_a_long_step_after_context_gives_up_context_not_the_step(bert_tokenizer):
    enc = StepEncoder(bert_tokenizer, separator="[SEP]", max_length=48, max_problem_tokens=16)
    # Short steps fill the context budget, then one step needs nearly the whole window.
    steps = ["a b", "c d", "e f", " ".join(["total"] * 40), "g"]
    out = enc.encode("p", steps, [1] * 5)
    assert [s for w in out.windows for s in w.steps] == [0, 1, 2, 3, 4]
    assert all(len(w.input_ids) <= 48 for w in out.windows)


def test_separator_that_encodes_to_nothing_is_refused(bert_tokenizer):
    with pytest.raises(ValueError, match="separator"):
        StepEncoder(bert_tokenizer, separator="\n\n", max_length=64, max_problem_tokens=16)
