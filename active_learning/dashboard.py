"""The active-learning pages of the manager dashboard. Interfaces only: parse, call, render.

They plug into labeling's dashboard (its manager_page guard, charts and layout)
through labeling.extensions; labeling never imports this module.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from active_learning import selectors as sel
from active_learning.forms import ActiveLearningSettingsForm
from active_learning.models import TrainingRun
from active_learning.services.training import (
    al_config_get_or_create,
    al_config_update,
    model_promote,
    training_run_request,
)
from labeling.dashboard import charts
from labeling.dashboard.views import manager_page, svg
from labeling.errors import LabelingError


def _model_page(request, campaign, form, *, status: int = 200):
    panel = sel.model_panel(campaign=campaign)
    curve = panel["curve"]
    series = {
        "step AUROC": [(p["labels"], p["step_auroc"]) for p in curve],
        "first-error F1": [(p["labels"], p["first_error_f1"]) for p in curve],
        "best-of-N (PRM)": [(p["labels"], p["best_of_n"]) for p in curve],
        "real solution AUROC": [(p["labels"], p["real_solution_auroc"]) for p in curve],
    }
    bon = {
        "PRM": [(p["labels"], p["best_of_n"]) for p in curve],
        "majority vote": [(p["labels"], p["best_of_n_majority"]) for p in curve],
        "random": [(p["labels"], p["best_of_n_random"]) for p in curve],
    }
    return render(request, "active_learning/model.html", {
        "campaign": campaign, "panel": panel, "tab": "model", "form": form,
        "curve_svg": svg(charts.line_chart(series, title="Learning curve: held-out metrics by labeled solutions",
                                           x_label="labeled solutions", y_range=(0.0, 1.0), width=1100, height=300)),
        "bon_svg": svg(charts.line_chart(
            bon, title="Best-of-N accuracy by labeled solutions", x_label="labeled solutions", y_range=(0.0, 1.0),
            width=1100, height=300,
            empty_text="No run has a best-of-N figure: its held-out split needs problems with several solutions"
            if curve else charts.EMPTY_TEXT)),
    }, status=status)


@manager_page
def model(request, campaign):
    form = ActiveLearningSettingsForm(instance=al_config_get_or_create(campaign=campaign))
    return _model_page(request, campaign, form)


@require_POST
@manager_page
def retrain(request, campaign):
    try:
        run = training_run_request(campaign=campaign, trigger=TrainingRun.Trigger.MANUAL, user=request.user)
    except LabelingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"training run {run.pk} queued: retrain → score → refill")
    return redirect("active_learning:model", slug=campaign.slug)


@require_POST
@manager_page
def promote(request, campaign, version: int):
    if not request.POST.get("confirm"):
        messages.error(request, f"tick the box to confirm that v{version} should serve despite the gate")
        return redirect("active_learning:model", slug=campaign.slug)
    try:
        model, rescore = model_promote(campaign=campaign, version=version, by=request.user)
    except LabelingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"v{model.version} is the active model"
                         + (f"; run {rescore.pk} scores the pool with it and refills the queue" if rescore
                            else "; the next cycle scores the pool with it"))
    return redirect("active_learning:model", slug=campaign.slug)


@require_POST
@manager_page
def settings(request, campaign):
    form = ActiveLearningSettingsForm(request.POST, instance=al_config_get_or_create(campaign=campaign))
    if form.is_valid():
        try:
            # The form only parses; the service checks the configs build and writes.
            _, changed = al_config_update(campaign=campaign, changes={k: form.cleaned_data[k] for k in form.fields},
                                          by=request.user)
        except LabelingError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"active-learning settings saved ({', '.join(changed) or 'nothing changed'}); "
                                      "the next run uses them")
            return redirect("active_learning:model", slug=campaign.slug)
    # Shown again with what was typed and each error under its field, not reset from the database.
    return _model_page(request, campaign, form, status=400)


def _add_errors(form, exc: LabelingError) -> None:
    fields = exc.details if isinstance(exc.details, dict) else {}
    placed = False
    for name, msgs in fields.items():
        for msg in msgs if isinstance(msgs, list) else [msgs]:
            form.add_error(name if name in form.fields else None, msg)
        placed = True
    if not placed:
        form.add_error(None, exc.message)
