"""Rows for the PRM trainers people use, as pure functions over plain data.

- math_shepherd (peiyi9979/Math-Shepherd): {"input": problem, then "Step k: text ки" per step,
  "label": the same text with "+" or "-" in place of each tag}.
- openrlhf (OpenRLHF's ProcessRewardDataset): {"input": as above, "value": ["+"/"-" per step]};
  train with `--input_key input --label_key value --placeholder_token ки --reward_tokens + -`.
- rlhflow (RLHFlow/Mistral-PRM-Data): {"conversations": user turns carrying the steps (the first
  also the problem, then a blank line), each answered by an assistant turn "+" or "-"}.
- hf-dataset rows: TRL's three columns plus the raw ratings and ids (see hf_dataset.py).

All of them carry the steps up to and including the first wrong one, as the TRL rows do: later
steps follow a broken prefix and have no well-defined label. Neutral (0) counts as correct unless
`neutral_is_correct` is off (the trl-lib/prm800k convention).
"""

from __future__ import annotations

from labeling.exporting.formats import Alternative

MS_TAG = "ки"


def labeled_prefix(steps: list[str], ratings: list[int | None], *, neutral_is_correct: bool = True
                   ) -> tuple[list[str], list[bool], list[int]]:
    """(steps, labels, ratings) up to and including the first negative, stopping at the first unrated."""
    out_steps, labels, raw = [], [], []
    for text, rating in zip(steps, ratings, strict=False):
        if rating is None:
            break
        out_steps.append(text)
        labels.append(rating == 1 or (rating == 0 and neutral_is_correct))
        raw.append(rating)
        if rating == -1:
            break
    return out_steps, labels, raw


def _tagged(problem: str, steps: list[str]) -> str | None:
    if MS_TAG in problem or any(MS_TAG in s for s in steps):
        return None  # the tag would be ambiguous: such a row cannot be parsed back
    return problem + " " + "\n".join(f"Step {i}: {s} {MS_TAG}" for i, s in enumerate(steps, start=1))


def math_shepherd_row(*, row_id: str, problem: str, steps: list[str], ratings: list[int | None],
                      neutral_is_correct: bool = True) -> dict | None:
    kept, labels, _ = labeled_prefix(steps, ratings, neutral_is_correct=neutral_is_correct)
    text = _tagged(problem, kept) if kept else None
    if text is None:
        return None
    marks = iter("+" if ok else "-" for ok in labels)
    label = "".join(piece + (next(marks, "") if i < len(labels) else "")
                    for i, piece in enumerate(text.split(MS_TAG)))
    return {"id": row_id, "input": text, "label": label}


def openrlhf_row(*, row_id: str, problem: str, steps: list[str], ratings: list[int | None],
                 neutral_is_correct: bool = True) -> dict | None:
    kept, labels, _ = labeled_prefix(steps, ratings, neutral_is_correct=neutral_is_correct)
    text = _tagged(problem, kept) if kept else None
    if text is None:
        return None
    return {"id": row_id, "input": text, "value": ["+" if ok else "-" for ok in labels]}


def rlhflow_row(*, row_id: str, problem: str, steps: list[str], ratings: list[int | None],
                neutral_is_correct: bool = True) -> dict | None:
    kept, labels, _ = labeled_prefix(steps, ratings, neutral_is_correct=neutral_is_correct)
    if not kept:
        return None
    turns = []
    for i, (text, ok) in enumerate(zip(kept, labels, strict=True)):
        turns.append({"role": "user", "content": f"{problem}\n\n{text}" if i == 0 else text})
        turns.append({"role": "assistant", "content": "+" if ok else "-"})
    return {"id": row_id, "conversations": turns}


def with_human_steps(steps: list[str], ratings: list[int | None], alternatives: list[Alternative]
                     ) -> list[int | None]:
    """Ratings where an unrated step is the labeler's own written step (a PRM800K phase-1 human
    completion on the path) count as +1: an expert wrote it as the right next step."""
    human = {(a.step_index, a.text) for a in alternatives if a.kind == "human"}
    return [1 if r is None and (i, steps[i]) in human else r for i, r in enumerate(ratings)]


def alternative_rows(*, problem: str, steps: list[str], ratings: list[int | None],
                     alternatives: list[Alternative], neutral_is_correct: bool = True) -> list[dict]:
    """TRL rows for rated phase-1 alternatives: the solution's prefix before the step, then the
    alternative completion with its own label, as TRL's PRM800K converter made them.

    Only a prefix that is fully rated and has no wrong step qualifies (an alternative after an
    error continues a broken solution). The same (step, text) twice is written once.
    """
    prefix_ok = 0  # steps[:prefix_ok] are rated and none is wrong
    while prefix_ok < len(steps) and prefix_ok < len(ratings) and ratings[prefix_ok] not in (None, -1):
        prefix_ok += 1
    rows, seen = [], set()
    for alt in sorted(alternatives, key=lambda a: (a.step_index, a.position)):
        i = alt.step_index
        if alt.kind != "alternative" or alt.rating is None or i > prefix_ok or i >= len(steps):
            continue
        if alt.text == steps[i] or (i, alt.text) in seen or not alt.text.strip():
            continue
        seen.add((i, alt.text))
        labels = [r == 1 or (r == 0 and neutral_is_correct) for r in ratings[:i]]
        labels.append(alt.rating == 1 or (alt.rating == 0 and neutral_is_correct))
        rows.append({"prompt": problem, "completions": [*steps[:i], alt.text], "labels": labels})
    return rows
