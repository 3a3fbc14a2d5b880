"""The active-learning settings form on the dashboard's Model page: it parses; the service checks and writes."""

from __future__ import annotations

from django import forms

from active_learning.evalsets import EVAL_SETS
from active_learning.models import ActiveLearningConfig
from active_learning.strategies import STRATEGIES

EDITABLE = [
    "enabled", "strategy", "refill_size", "wrong_fraction", "per_problem_cap", "retrain_every_minutes",
    "retrain_after_labels", "min_labels", "neutral", "aggregation", "score_aggregate", "heldout_fraction",
    "promotion_metric", "promotion_gate", "chance_margin", "max_regression", "warm_start", "prior", "prior_folds",
    "eval_set", "model_config", "train_config", "score_config",
]


class ActiveLearningSettingsForm(forms.ModelForm):
    class Meta:
        model = ActiveLearningConfig
        fields = EDITABLE
        widgets = {name: forms.Textarea(attrs={"rows": 2}) for name in ("model_config", "train_config",
                                                                       "score_config")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["strategy"] = forms.ChoiceField(choices=[(s, s) for s in sorted(STRATEGIES)])
        self.fields["eval_set"] = forms.ChoiceField(
            required=False, label="Real-data check",
            help_text=ActiveLearningConfig._meta.get_field("eval_set").help_text,
            choices=[("", "none"), *((s.name, s.label) for s in EVAL_SETS.values())])
