import itertools
import json
from dataclasses import replace
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from active_learning.oracle import prm800k_ratings
from active_learning.prm.calibration import CALIBRATION_METHODS
from active_learning.prm.config import ModelConfig, ScoreConfig, TrainConfig
from active_learning.prm.data import SolutionExample, outcome_examples, ratings_to_labels
from active_learning.prm.simulate import SimulationConfig, run_simulation
from active_learning.prm.synthetic import build_examples, prm800k_records, read_gsm8k
from active_learning.strategies import STRATEGIES
from labeling.grading import extract_final_answer, grade_answer

BUNDLED_GSM8K = Path(__file__).resolve().parents[2] / "data" / "gsm8k_train.jsonl"


def _prm800k_examples(path: str) -> list[SolutionExample]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                problem, steps, ratings = prm800k_ratings(rec)
            except (KeyError, TypeError, IndexError, ValueError) as exc:
                raise CommandError(f"{path}:{n}: not a PRM800K record ({exc})") from None
            if not steps:
                continue
            answer = extract_final_answer(steps[-1]) or ""
            truth = rec["question"].get("ground_truth_answer")
            out.append(SolutionExample(
                problem=problem, steps=tuple(steps), labels=ratings_to_labels(ratings), group=problem,
                answer_correct=grade_answer(answer, truth) if answer and truth else None, answer=answer,
                key=f"line{n}",
            ))
    return out


class Command(BaseCommand):
    help = (
        "Simulate active learning on a fully labeled dataset (synthetic GSM8K errors by default) and compare "
        "strategies at equal label budgets over several seeds. Writes learning curves (JSON + PNG)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", choices=["gsm8k", "prm800k"], default="gsm8k")
        parser.add_argument("--dataset", help="GSM8K train-style JSONL (default: bundled) or a PRM800K file")
        parser.add_argument("--problems", type=int, default=600, help="GSM8K problems to use")
        parser.add_argument("--variants", type=int, default=2, help="corrupted copies per GSM8K problem")
        parser.add_argument("--strategies", nargs="+", default=["convincing_wrong", "uncertainty", "uniform"])
        parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
        parser.add_argument("--initial", type=int, default=64)
        parser.add_argument("--batch", type=int, default=64)
        parser.add_argument("--rounds", type=int, default=4)
        parser.add_argument("--uniform-factor", type=int, default=3)
        parser.add_argument("--pool-limit", type=int, default=None)
        parser.add_argument("--metric", default="step_auroc")
        parser.add_argument("--backbone", default="", help="local HF model dir (default: bundled MiniLM)")
        parser.add_argument("--layers", type=int, default=None, help="keep only the first N backbone layers")
        parser.add_argument("--max-length", type=int, default=256)
        parser.add_argument("--epochs", type=float, default=3.0)
        parser.add_argument("--lr", type=float, default=2e-4)
        parser.add_argument("--prior", choices=["outcomes", "synthetic"], default=None,
                            help="train a prior per seed and run --warm-strategies again, warm-started from it: "
                                 "'outcomes' is the pool's graded final answers on every step (cross-fit it with "
                                 "--prior-folds), 'synthetic' the synthetic GSM8K set on problems the run does "
                                 "not use (--prior-problems)")
        parser.add_argument("--warm-strategies", nargs="+", default=[], help="strategies to run warm as well")
        parser.add_argument("--prior-folds", type=int, default=None,
                            help="cross-fit the prior over k folds (default: 2 for outcomes, which must be "
                                 "cross-fitted; 1 for synthetic)")
        parser.add_argument("--prior-problems", type=int, default=600,
                            help="GSM8K problems after the first --problems for --prior synthetic")
        parser.add_argument("--calibration", type=int, default=0,
                            help="seed-batch solutions kept out of training to fit each model's temperature")
        parser.add_argument("--calibration-method", choices=CALIBRATION_METHODS, default="temperature",
                            help="temperature scaling, or platt: temperature and a bias (fixes a base-rate shift)")
        parser.add_argument("--max-steps", type=int, default=None, help="cap optimizer steps per training")
        parser.add_argument("--out", default="simulation", help="output directory")
        parser.add_argument("--write-dataset", help="also write the labeled set as PRM800K JSONL here")

    def handle(self, *args, **opts):
        unknown = (set(opts["strategies"]) | set(opts["warm_strategies"])) - set(STRATEGIES)
        if unknown:
            raise CommandError(f"unknown strategies: {', '.join(sorted(unknown))}")
        folds = opts["prior_folds"] or (2 if opts["prior"] == "outcomes" else 1)
        if opts["prior"] == "outcomes" and folds < 2:
            # One model trained on every pool verdict would rank the pool (and fit its temperature) from
            # memory: the leak cross-fitting exists to stop.
            raise CommandError("--prior outcomes must be cross-fitted: --prior-folds 2 or more")
        try:
            sim_config = SimulationConfig(
                strategies=tuple(opts["strategies"]), seeds=tuple(opts["seeds"]), initial=opts["initial"],
                batch=opts["batch"], rounds=opts["rounds"], uniform_budget_factor=opts["uniform_factor"],
                pool_limit=opts["pool_limit"], metric=opts["metric"], prior=opts["prior"] or "",
                warm_strategies=tuple(opts["warm_strategies"]), prior_folds=folds,
                calibration=opts["calibration"], calibration_method=opts["calibration_method"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if opts["write_dataset"] and opts["source"] != "gsm8k":
            # Rewriting a user's PRM800K file would drop what the examples do not carry (neutral
            # ratings past the label, ground truth); they already have the file.
            raise CommandError("--write-dataset writes the synthetic GSM8K set; it needs --source gsm8k")
        if opts["source"] == "gsm8k":
            path = opts["dataset"] or BUNDLED_GSM8K
            try:
                records = list(itertools.islice(read_gsm8k(path), opts["problems"]))
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read {path}: {exc}") from exc
            examples = list(build_examples(records, variants=opts["variants"], seed=0))
        else:
            if not opts["dataset"]:
                raise CommandError("--source prm800k needs --dataset")
            examples = _prm800k_examples(opts["dataset"])
        if opts["prior"] == "synthetic" and opts["source"] != "gsm8k":
            raise CommandError("--prior synthetic is built from GSM8K problems; use --source gsm8k")
        prior_examples = None
        if opts["prior"] == "outcomes":
            def prior_examples(pool):
                # What a campaign knows for free: each solution's graded answer, never its step labels.
                bare = [replace(ex, labels=(None,) * len(ex.steps)) for ex in pool]
                return outcome_examples(bare, mode="all_steps")
        elif opts["prior"] == "synthetic":
            end = opts["problems"] + opts["prior_problems"]
            extra = list(itertools.islice(read_gsm8k(path), opts["problems"], end))
            if not extra:
                raise CommandError(f"{path} has no problems after the first {opts['problems']} for the prior")
            synthetic = list(build_examples(extra, variants=opts["variants"], seed=1))

            def prior_examples(pool):
                return synthetic
        if len({ex.group for ex in examples}) < 4:
            raise CommandError(f"need at least 4 problems, got {len({ex.group for ex in examples})}")
        out = Path(opts["out"])
        out.mkdir(parents=True, exist_ok=True)
        if opts["write_dataset"]:
            with open(opts["write_dataset"], "w", encoding="utf-8") as fh:
                for rec in prm800k_records(examples):
                    fh.write(json.dumps(rec) + "\n")
        wrong = sum(ex.answer_correct is False for ex in examples)
        self.stdout.write(f"{len(examples)} labeled solutions ({wrong} wrong-answer) from "
                          f"{len({ex.group for ex in examples})} problems")
        model_cfg = ModelConfig(backbone=opts["backbone"], num_hidden_layers=opts["layers"],
                                max_length=opts["max_length"])
        from active_learning.prm.model import PRM

        def make_prm(seed: int) -> PRM:
            return PRM.from_backbone(model_cfg, seed=seed)

        result = run_simulation(
            examples, make_prm=make_prm,
            train_config=TrainConfig(epochs=opts["epochs"], learning_rate=opts["lr"], max_steps=opts["max_steps"]),
            score_config=ScoreConfig(quantize_cpu=False),
            config=sim_config,
            prior_examples=prior_examples,
            log=lambda msg: self.stdout.write("  " + msg),
        )
        result["model_config"] = model_cfg.to_dict()
        (out / "curves.json").write_text(json.dumps(result, indent=1))
        from active_learning.prm.report import plot_curves

        plot_curves(result, out / "curves.png")
        for summary in (result["summary"], *result["other_metrics"].values()):
            for strategy, eff in summary["efficiency"].items():
                final = eff["final"]
                if final:
                    self.stdout.write(
                        f"{strategy}: {summary['metric']} {final['quality']:.4f} at {final['labels']} labels; "
                        f"uniform needs {'more than ' if final['lower_bound'] else ''}"
                        f"{final['ratio'] * final['labels']:.0f} -> {final['ratio']:.2f}x data efficiency"
                    )
        for arm, gain in result["warm_gain"].items():
            for metric in ("step_auroc", "first_error_f1", "ece"):
                rows = gain[metric]
                if rows:
                    self.stdout.write(f"{arm} against {gain['against']}: {metric} "
                                      f"{rows[-1]['mean']:+.4f} at {rows[-1]['labels']} labels (mean over seeds)")
        self.stdout.write(self.style.SUCCESS(f"wrote {out / 'curves.json'} and {out / 'curves.png'}"))
