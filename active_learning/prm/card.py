"""The README.md model card written into every checkpoint.

A checkpoint may be pushed to the Hub as is, so the card carries what a
stranger needs to use the model correctly: which label means "correct", where
the label sits (the last token of the separator after each step), the
separator itself, the window sizes, what data and conventions it was trained
on and what it scored on held-out data. The YAML header follows the Hub's
model-card metadata (license, library_name, pipeline_tag, base_model, tags).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from active_learning.strategies import SOLUTION_AGGREGATES

# "org/name" is a Hub id; anything else (a local path, a cut backbone) is not written as base_model.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

_METRIC_NAMES = {
    "step_auroc": "step AUROC",
    "ece": "step ECE",
    "first_error_f1": "first-error F1 (ProcessBench)",
    "first_error_accuracy_erroneous": "first-error accuracy, erroneous solutions",
    "first_error_accuracy_correct": "first-error accuracy, correct solutions",
    "solution_auroc": "solution AUROC",
}


def _yaml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def model_card(
    meta: Mapping,
    *,
    license: str = "other",
    data: Mapping | None = None,
    metrics: Mapping | None = None,
    train: Mapping | None = None,
    title: str | None = None,
    aggregate: str | None = None,
) -> str:
    """The card's text. `meta` is the checkpoint's "prm" config entry; `data` counts what it was
    trained on (and on which conventions), `metrics` are held-out evaluation figures, `aggregate`
    the solution score its metrics (and a campaign's queue) used."""
    backbone = str(meta.get("backbone", ""))
    base = backbone.split(" (first ")[0]
    header = ["---", f"license: {license}", "library_name: transformers", "pipeline_tag: token-classification"]
    if _HUB_ID.match(base):
        header.append(f"base_model: {_yaml_str(base)}")
    header += ["tags:", "- process-reward-model", "- prm", "- math", "---", ""]
    label2id = dict(meta.get("label2id") or {"negative": 0, "positive": 1})
    sep = meta.get("separator", "")
    lines = [
        f"# {title or 'Process reward model'}",
        "",
        "A process reward model (PRM) for step-by-step math solutions, as in *Let's Verify Step by Step*",
        "(Lightman et al., 2023): it gives every step of a solution the probability that the step is correct.",
        f"Fine-tuned from `{backbone or 'unknown'}` as a 2-label token classifier.",
        "",
        "## How it reads a solution",
        "",
        "| | |",
        "|---|---|",
        "| input | `[CLS or BOS] problem SEP step_1 SEP step_2 SEP ...` |",
        f"| separator (SEP) | `{json.dumps(sep)}` |",
        "| label position | the last token of the separator after each step |",
        f"| label ids | {label2id.get('positive')} = step correct, {label2id.get('negative')} = step wrong |",
        f"| window | {meta.get('max_length')} tokens; the problem is cut to {meta.get('max_problem_tokens')} "
        "(head and tail kept); longer solutions are scored in windows that repeat the problem and the "
        "preceding steps that fit in half the window |",
        f"| temperature | {meta.get('temperatures') or meta.get('temperature', 1.0)} (the logit margin is divided "
        f"by it{'; one per fold member, in fold order' if meta.get('temperatures') else ''}; fitted on "
        "held-out steps, 1.0 = uncalibrated) |",
        f"| calibration bias | {meta.get('biases') or meta.get('bias', 0.0)} (added to the scaled margin: Platt "
        "scaling; 0.0 under temperature scaling) |",
        ("| solution score | product of the step probabilities (or their minimum, last or mean) |" if aggregate is None
         else f"| solution score | `{aggregate}` of the step probabilities (also possible: "
              f"{', '.join(a for a in SOLUTION_AGGREGATES if a != aggregate)}) |"),
        "",
        'These settings are also in `config.json` under `"prm"`.',
        "",
    ]
    if data:
        lines += ["## Training data", "", "| | |", "|---|---|"]
        lines += [f"| {k.replace('_', ' ')} | {_fmt(v)} |" for k, v in data.items()]
        lines += [""]
    if train:
        neutral = train.get("neutral")
        lines += ["## Label conventions", ""]
        if neutral:
            lines.append({
                "positive": "- A neutral (0) step rating was trained as correct (the paper's convention).",
                "negative": "- A neutral (0) step rating was trained as wrong (the `trl-lib/prm800k` convention).",
                "ignore": "- Neutral (0) steps were left out of the loss.",
            }[neutral])
        lines.append("- Steps after the first wrong step carry no label: they follow a broken prefix.")
        if train.get("last_step_only"):
            lines.append("- Only the last labeled step of each solution was trained on (outcome-style).")
        lines += ["", "Training settings: `" + json.dumps(dict(train), sort_keys=True) + "`", ""]
    if metrics:
        lines += ["## Held-out evaluation", "", "| metric | value |", "|---|---|"]
        for key, name in _METRIC_NAMES.items():
            if key in metrics:
                lines.append(f"| {name} | {_fmt(metrics[key])} |")
        bon = metrics.get("best_of_n")
        if isinstance(bon, Mapping):
            lines.append(f"| best-of-N accuracy ({bon.get('problems')} problems) | PRM {_fmt(bon.get('prm'))}, "
                         f"majority vote {_fmt(bon.get('majority'))}, random {_fmt(bon.get('random'))} |")
        for key in ("solutions", "labeled_steps"):
            if key in metrics:
                lines.append(f"| held-out {key.replace('_', ' ')} | {metrics[key]} |")
        lines += [""]
    pos = label2id.get("positive", 1)
    neg = label2id.get("negative", 1 - pos)
    lines += [
        "## Usage",
        "",
        "```python",
        "import torch",
        "from transformers import AutoModelForTokenClassification, AutoTokenizer",
        "",
        'path = "path/to/this/model"',
        "tok = AutoTokenizer.from_pretrained(path)",
        "model = AutoModelForTokenClassification.from_pretrained(path).eval()",
        "meta = model.config.prm",
        'sep = tok(meta["separator"], add_special_tokens=False)["input_ids"]',
        'problem, steps = "What is 2 + 3 * 4?", ["3 * 4 = 12", "2 + 12 = 14", "The answer is 14"]',
        "first = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id",
        "start = [] if first is None else [first]",
        'ids, positions = start + tok(problem, add_special_tokens=False)["input_ids"] + sep, []',
        "for step in steps:",
        '    ids += tok(step, add_special_tokens=False)["input_ids"] + sep',
        "    positions.append(len(ids) - 1)",
        "with torch.no_grad():",
        "    logits = model(input_ids=torch.tensor([ids])).logits[0]",
        f"margin = logits[positions, {pos}] - logits[positions, {neg}]",
        "p_correct = torch.sigmoid(margin / meta.get('temperature', 1.0) + meta.get('bias', 0.0))  # one per step",
        "```",
        "",
        "Or, with this repository's toolkit: `python -m active_learning.prm score --model path --data pool.jsonl`.",
        "",
    ]
    return "\n".join(header + lines)
