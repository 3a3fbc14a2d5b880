"""Forms of the campaign pages: they parse and render; the services check and write."""

from __future__ import annotations

from django import forms

from labeling.models import Campaign
from labeling.services.staffing import ROLES


class CampaignSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    mode = forms.ChoiceField(choices=Campaign.Mode.choices)
    # Short option labels: the select sits in a quarter-width column; the help says the rest.
    reveal = forms.ChoiceField(choices=[(Campaign.Reveal.ALL, "Every step"),
                                        (Campaign.Reveal.PROGRESSIVE, "One step at a time")],
                               label="Reveal (first-error mode)",
                               help_text="every step: the rows after the first negative are dimmed, so the whole "
                                         "argument is read; one at a time: the next step shows once this one is rated")
    overlap = forms.IntegerField(min_value=1, max_value=100, label="Labels per solution (overlap)")
    qc_rate = forms.FloatField(min_value=0, max_value=1, label="QC rate (share of gold items served)")
    lease_minutes = forms.IntegerField(min_value=1, max_value=7 * 24 * 60, label="Lease (minutes)")
    show_ground_truth = forms.BooleanField(required=False, label="Show the ground-truth answer")
    allow_corrections = forms.BooleanField(required=False, label="Annotators may write the corrected step")
    critique = forms.ChoiceField(choices=Campaign.Ask.choices, label="Critique of a negative step",
                                 help_text="a written explanation of what is wrong (generative-verifier data)")
    error_types = forms.ChoiceField(choices=Campaign.Ask.choices, label="Error types of a negative step")
    error_taxonomy = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 9, "data-role": "error-taxonomy"}), label="Error taxonomy",
        help_text="one type per line, 'key: label: description' (up to 9; digits 1-9 pick them, in this order)")
    prelabels = forms.ChoiceField(
        choices=Campaign.Prelabels.choices, label="Suggested ratings (verified pre-labels)",
        help_text="shown as hints; every step still takes the annotator's own key press. Gold and screening "
                  "items never show them")
    prelabel_share = forms.FloatField(
        min_value=0, max_value=1, label="Share of tasks with suggestions",
        help_text="the rest are labeled unaided: the control the bias report compares against (below 1, gold "
                  "items do not stand out as the only ones without hints)")
    prelabel_threshold = forms.FloatField(
        min_value=0, max_value=1, label="Suggest +1 from a probability of",
        help_text="a step probability at or above it suggests +1, below it -1")
    screening_size = forms.IntegerField(min_value=0, max_value=1000, label="Screening items for new annotators")
    screening_threshold = forms.FloatField(min_value=0, max_value=1, label="Screening pass mark (step accuracy)")
    autopause_window = forms.IntegerField(min_value=0, max_value=1000, label="Auto-pause window (gold items)")
    autopause_threshold = forms.FloatField(min_value=0, max_value=1, label="Auto-pause below QC accuracy")
    hourly_rate = forms.DecimalField(required=False, min_value=0, max_digits=8, decimal_places=2,
                                     label="Hourly rate (for the cost report)")
    instructions = forms.CharField(required=False, widget=forms.Textarea(
        attrs={"rows": 10, "data-preview": "instructions-preview"}), label="Instructions (Markdown and math)")

    @classmethod
    def for_campaign(cls, campaign: Campaign, data=None) -> CampaignSettingsForm:
        initial = {name: getattr(campaign, name) for name in cls.base_fields}
        initial["error_taxonomy"] = taxonomy_text(campaign.error_taxonomy)
        return cls(data=data, initial=initial)

    @classmethod
    def defaults(cls, data=None) -> CampaignSettingsForm:
        initial = {name: Campaign._meta.get_field(name).get_default() for name in cls.base_fields}
        initial["error_taxonomy"] = taxonomy_text(initial["error_taxonomy"])
        return cls(data=data, initial=initial)


def taxonomy_text(taxonomy: list[dict]) -> str:
    """The taxonomy as the form edits it (the service parses it back: `taxonomy_clean`)."""
    return "\n".join(": ".join(p for p in (t["key"], t["label"], t.get("description", "")) if p)
                     for t in taxonomy or [])


class NewCampaignForm(CampaignSettingsForm):
    slug = forms.SlugField(max_length=64, help_text="used in URLs and commands; it cannot change later")
    field_order = ["slug", "name"]

    @classmethod
    def copy_of(cls, source: Campaign, data=None) -> NewCampaignForm:
        """The form filled in with `source`'s settings, and a choice to bring its people along."""
        form = cls.for_campaign(source, data=data)
        if data is None:
            form.initial["name"] = f"{source.name} (copy)"
            form.initial["slug"] = f"{source.slug[:59]}-copy"  # the source's own would only be refused
        form.fields["copy_members"] = forms.BooleanField(
            required=False, initial=True, label=f"Also add the people of '{source.slug}', with their roles")
        return form


class MembersAddForm(forms.Form):
    people = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="People",
                             help_text="usernames or email addresses, one per line or comma-separated; a CSV "
                                       "with a role column (annotator, manager, expert) works too")
    role = forms.ChoiceField(choices=[(r, r) for r in ROLES], initial="annotator")


class CreatorsAddForm(forms.Form):
    people = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="People", max_length=20000,
                             help_text="usernames or email addresses of existing accounts, one per line or "
                                       "comma-separated")
