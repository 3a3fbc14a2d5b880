"""The hf-dataset export: JSONL splits by problem plus a README.md dataset card, pure functions.

`datasets.load_dataset(directory)` reads it as is: the card's YAML names the split files
(`configs`) and declares the features, so types do not depend on what the first rows hold.
"""

from __future__ import annotations

import hashlib
import json

SPLITS = ("train", "test")
FEATURES = (
    ("id", {"dtype": "string"}),
    ("problem_id", {"dtype": "string"}),
    ("prompt", {"dtype": "string"}),
    ("completions", {"sequence": "string"}),
    ("labels", {"sequence": "bool"}),
    ("ratings", {"sequence": "int8"}),
    ("final_answer_correct", {"dtype": "bool"}),
    ("generator", {"dtype": "string"}),
    ("labelers", {"dtype": "int32"}),
)


def split_of(problem_key: str, *, test_fraction: float, seed: int) -> str:
    """Stable split by problem: no problem is on both sides, and a re-export with the same seed
    puts every problem where it was."""
    h = int(hashlib.sha256(f"{seed}:{problem_key}".encode()).hexdigest()[:8], 16)
    return "test" if h / 0xFFFFFFFF < test_fraction else "train"


def dataset_row(*, row_id: str, problem_id: str, problem: str, steps: list[str], labels: list[bool],
                ratings: list[int], answer_correct: bool | None, generator: str, labelers: int) -> dict:
    return {"id": row_id, "problem_id": problem_id, "prompt": problem, "completions": steps, "labels": labels,
            "ratings": ratings, "final_answer_correct": answer_correct, "generator": generator,
            "labelers": labelers}


def _yaml(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def dataset_card(*, name: str, counts: dict, license: str, aggregate: str, neutral_is_correct: bool,
                 mode: str, overlap: int, test_fraction: float, seed: int, filters: dict,
                 splits: dict[str, int]) -> str:
    """README.md: YAML metadata (license, configs, features, splits) and how the labels were made."""
    present = [s for s in SPLITS if splits.get(s)]
    lines = ["---", f"license: {license}", f"pretty_name: {_yaml(name)}", "task_categories:",
             "- token-classification", "tags:", "- process-reward-model", "- step-level-supervision", "- math",
             "configs:", "- config_name: default", "  data_files:"]
    for s in present:
        lines += [f"  - split: {s}", f"    path: {s}.jsonl"]
    lines += ["dataset_info:", "  features:"]
    for fname, spec in FEATURES:
        key, value = next(iter(spec.items()))
        lines += [f"  - name: {fname}", f"    {key}: {value}"]
    lines += ["  splits:"]
    for s in present:
        lines += [f"  - name: {s}", f"    num_examples: {splits[s]}"]
    lines += ["---", ""]
    neutral = ("counts as **correct** (`labels` true), the convention of *Let's Verify Step by Step*"
               if neutral_is_correct else
               "counts as **incorrect** (`labels` false), the convention of `trl-lib/prm800k`")
    agg = {"none": "one row per annotator and solution",
           "majority": "one row per solution: the per-step majority of its annotators (ties go to the lower rating)",
           "adjudicated": "one row per solution: the adjudicated ratings where a disagreement was resolved, "
                          "else the per-step majority"}[aggregate]
    lines += [
        f"# {name}",
        "",
        "Step-level human labels of model-written math solutions, for training process reward models (PRMs).",
        "Each row is a solution: `prompt` is the problem, `completions` its steps and `labels` whether each step",
        "is correct (TRL's stepwise-supervision columns, so TRL-style PRM trainers read it directly).",
        "",
        "## Label conventions",
        "",
        "- `ratings` are the raw step ratings: +1 correct, 0 neutral (acceptable but not progress), -1 wrong.",
        f"- In `labels`, a neutral step {neutral}. Retrain with the other convention from `ratings`.",
        "- Steps run up to and including the **first wrong step**: what follows a wrong step continues a broken",
        "  solution and has no well-defined label. A solution with no wrong step lists every rated step.",
        "- `final_answer_correct` is the grader's verdict on the final answer (or a reviewer's, where one",
        "  overrode it); null where it could not be decided.",
        "- A trainer adds a separator after every step and puts the step's label on its last token. With",
        "  BERT-style tokenizers a newline separator encodes to nothing: use `[SEP]`.",
        "",
        "## How it was labeled",
        "",
        f"- Labeling mode: {mode.replace('_', ' ')}; up to {overlap} annotator(s) per solution; {agg}.",
        "- Annotators rated every step +1 / 0 / -1 in the browser (first-error mode stops at the first -1).",
        "- Problems reported as bad by an annotator are left out.",
        f"- Filters applied: {_yaml(filters) if filters else 'none'}.",
        "",
        "## Splits",
        "",
        f"By problem (no problem is in two splits), {test_fraction:.0%} of problems in `test`, seed {seed}.",
        "",
        "| split | rows |",
        "|---|---|",
        *[f"| {s} | {splits.get(s, 0)} |" for s in SPLITS],
        "",
        "## Counts",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k.replace('_', ' ')} | {v} |" for k, v in counts.items()],
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("path/to/this/directory")',
        'print(ds["train"][0]["completions"], ds["train"][0]["labels"])',
        "```",
        "",
        "Train a PRM on it with this repository's toolkit: `python -m active_learning.prm train --data <dir> "
        "--output <checkpoint>`.",
        "",
    ]
    return "\n".join(lines)
