"""Reads for the active-learning pages of the dashboard."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from active_learning.evalsets import EVAL_SETS
from active_learning.models import PRMModel, ScoringChunk, SolutionScore, TrainingRun
from labeling.extensions import ModelPrelabels
from labeling.models import Campaign

# Below this many held-out problems a best-of-N accuracy moves in steps of 1/n or more:
# one problem makes it 0 or 1. The curve leaves such points out rather than plot noise.
BEST_OF_N_MIN_PROBLEMS = 10


def model_panel(*, campaign: Campaign, limit: int = 30) -> dict:
    """Training runs (newest first), the learning curve by label count, and the active model."""
    runs = list(TrainingRun.objects.filter(campaign=campaign).select_related("model").order_by("-created_at")[:limit])
    curve = []
    bon_left_out = 0
    for run in sorted((r for r in runs if r.status == TrainingRun.Status.SUCCEEDED and r.metrics), key=lambda r: r.pk):
        m = run.metrics
        bon = m.get("best_of_n") or {}
        if isinstance(bon.get("problems"), int) and bon["problems"] < BEST_OF_N_MIN_PROBLEMS:
            bon, bon_left_out = {}, bon_left_out + 1
        curve.append({
            "labels": run.label_count, "version": run.model.version if run.model else None,
            "step_auroc": m.get("step_auroc"), "first_error_f1": m.get("first_error_f1"),
            "solution_auroc": m.get("solution_auroc"), "best_of_n": bon.get("prm"),
            "best_of_n_random": bon.get("random"), "best_of_n_majority": bon.get("majority"),
            "real_solution_auroc": ((m.get("real") or {}).get("solution_auroc") or {}).get("value"),
        })
    last_done = next((r for r in runs if r.finished_at and r.started_at), None)
    running = next((r for r in runs if r.status in (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)), None)
    active = PRMModel.objects.filter(campaign=campaign, is_active=True).first()
    return {
        "runs": runs, "curve": curve, "bon_left_out": bon_left_out, "bon_min_problems": BEST_OF_N_MIN_PROBLEMS,
        "active": active,
        # With no active model, the newest run that trained one says why it is not serving.
        "unpromoted": None if active else next((r for r in runs if r.model_id and not r.promoted), None),
        "running": running,
        "scoring": score_stage_progress(run=running) if running else None,
        "last_duration_s": (last_done.finished_at - last_done.started_at).total_seconds() if last_done else None,
        "last_failure": next((r for r in runs if r.status == TrainingRun.Status.FAILED), None),
        "real": real_check(next((r for r in runs if (r.metrics or {}).get("real")), None)),
    }


REAL_ROWS = (
    ("solution_auroc", "Solution AUROC (final answer right?)", "chance is 0.5"),
    ("best_of_n_prm", "Best-of-N, pick by PRM score", ""),
    ("best_of_n_majority", "Best-of-N, majority vote over answers", ""),
    ("best_of_n_random", "Best-of-N, random pick", ""),
    ("best_of_n_weighted", "Best-of-N, PRM-weighted vote", "answers weighted by PRM score"),
    ("best_of_n_gain", "PRM minus majority vote", "above 0: the PRM earns its keep"),
    ("step_auroc", "Step AUROC", ""),
    ("first_error_f1", "First-error F1", ""),
)


def real_check(run: TrainingRun | None) -> dict | None:
    """The latest run's real-data evaluation as rows with intervals, and a plain verdict."""
    if run is None:
        return None
    real = run.metrics["real"]
    rows = [{"key": k, "label": label, "note": note, **real[k]} for k, label, note in REAL_ROWS if k in real]
    gain = real.get("best_of_n_gain")
    verdict = None
    if gain:
        verdict = ("beats majority vote" if gain["lo"] > 0 else
                   "is worse than majority vote" if gain["hi"] < 0 else "is not distinguishable from majority vote")
    known = EVAL_SETS.get(real.get("set") or "")
    return {"run": run, "version": run.model.version if run.model else None, "set": real.get("set"),
            "label": real.get("label") or (known.label if known else None), "problems": real.get("problems"),
            "solutions": real.get("solutions"),
            "level": real.get("level"), "rows": rows, "verdict": verdict, "note": real.get("note")}


def score_stage_progress(*, run: TrainingRun) -> dict | None:
    """Chunks of a run by status, solutions scored so far and the workers at it (for the page and the API)."""
    rows = list(ScoringChunk.objects.filter(run=run).values("status", "worker", "size", "scored", "lease_expires_at"))
    if not rows:
        return None
    by_status = {s: 0 for s in ScoringChunk.Status.values}
    for r in rows:
        by_status[r["status"]] += 1
    workers: dict[str, dict] = {}
    now = timezone.now()
    lease = settings.AL_SCORING_CHUNK_LEASE_SECONDS
    for r in rows:
        if r["worker"] and r["status"] in (ScoringChunk.Status.DONE, ScoringChunk.Status.RUNNING):
            w = workers.setdefault(r["worker"], {"name": r["worker"], "done": 0, "busy": False, "silent_s": None,
                                                 "handed_on_in_s": None})
            w["done"] += r["status"] == ScoringChunk.Status.DONE
            if r["status"] == ScoringChunk.Status.RUNNING:
                w["busy"] = True
                # A live worker renews every lease/4 seconds; one silent for half the lease has likely died.
                left = (r["lease_expires_at"] - now).total_seconds() if r["lease_expires_at"] else 0.0
                if left < lease / 2:
                    w["silent_s"] = int(lease - left)
                    w["handed_on_in_s"] = max(0, int(left)) or None
    return {
        "chunks": len(rows), **by_status,
        "solutions": sum(r["size"] for r in rows),
        "scored": sum(r["scored"] for r in rows if r["status"] == ScoringChunk.Status.DONE),
        "workers": sorted(workers.values(), key=lambda w: w["name"]),
    }


def overview_panel_context(campaign: Campaign) -> dict:
    return {"panel": model_panel(campaign=campaign, limit=5)}


def model_prelabels(*, campaign: Campaign, solution_id: int) -> ModelPrelabels | None:
    """The active model's step probabilities for one solution, as pre-labels.

    Scoring skips solutions already labeled, so a task with room left may have been scored only by
    an earlier model: then that model's scores are used (the source names the version). None when
    no model of the campaign scored it; the page then shows no suggestions.
    """
    row = (SolutionScore.objects.filter(solution_id=solution_id, model__campaign=campaign,
                                        model__status=PRMModel.Status.READY)
           .order_by("-model__is_active", "-model__version").values_list("step_scores", "model__version").first())
    if row is None:
        return None
    probs, version = row
    return ModelPrelabels(step_probs=[float(p) if p is not None else None for p in probs], source=f"PRM v{version}")
