"""The demo campaigns that `make run` loads (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from labeling import extensions
from labeling.demo_accounts import DEMO_PASSWORD, DEMO_USERS
from labeling.models import Campaign, Membership
from labeling.services.campaigns import campaign_create, membership_set, user_create
from labeling.services.creators import campaign_creator_grant
from labeling.services.imports import ImportResult, solutions_import

User = get_user_model()

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo_data"
DEMO_FILE = DEMO_DIR / "gsm8k_example_model_solutions.jsonl"
MATH_FILE = DEMO_DIR / "prm800k_math_solutions.jsonl"
INSTRUCTIONS = "\n".join(
    [
        "Rate every step of the model's solution.",
        "",
        "- **Positive (+1)**: the step is correct and moves the solution forward.",
        "- **Neutral (0)**: the step is technically fine but unhelpful, or ambiguous.",
        "- **Negative (−1)**: the step is wrong: a computation, a misread number, a false claim, "
        "or reasoning that does not follow.",
        "",
        "In *first-error* campaigns rating stops at the first negative step; you may then write the "
        "corrected step. Flag a step when you are unsure. Use **bad problem** when the problem itself "
        "is broken, and **give up** when you cannot decide.",
    ]
)
CAMPAIGNS = [
    {"slug": "gsm8k-first-error", "name": "GSM8K model solutions: first error", "mode": "first_error",
     "overlap": 2, "qc_rate": 0.1, "gsm8k": True},
    {"slug": "gsm8k-all-steps", "name": "GSM8K model solutions: every step", "mode": "all_steps",
     "overlap": 1, "qc_rate": 0.1, "gsm8k": True},
    # Verified pre-labels: 80% of tasks suggest a rating per step (from a reference-matching
    # heuristic, active_learning's demo hook), the rest are the unaided control.
    {"slug": "gsm8k-prelabeled", "name": "GSM8K model solutions: verify suggested ratings", "mode": "first_error",
     "overlap": 2, "qc_rate": 0.1, "gsm8k": True, "prelabels": "imported", "prelabel_share": 0.8},
    # Long MATH solutions with heavy LaTeX: the 12 real PRM800K solutions, unlabeled.
    {"slug": "math-first-error", "name": "MATH (PRM800K) solutions: first error", "mode": "first_error",
     "overlap": 2, "qc_rate": 0.0, "gsm8k": False},
]

@dataclass
class DemoResult:
    users_created: list[str]
    imports: dict[str, ImportResult | None]


def demo_load(*, path: Path = DEMO_FILE, progress=None) -> DemoResult:
    """Create the demo users and campaigns and import the GSM8K and MATH samples.

    Idempotent: existing users keep their passwords, a campaign that already
    has tasks is not re-imported. The demo hooks other apps registered
    (labeling.extensions) run for every demo campaign afterwards and must be
    idempotent too.
    """
    created = []
    with transaction.atomic():
        for username, role in DEMO_USERS:
            if not User.objects.filter(username=username).exists():
                user_create(username=username, password=DEMO_PASSWORD, is_staff=(role == Membership.Role.MANAGER))
                created.append(username)
            if role == Membership.Role.MANAGER:
                # The demo manager runs campaigns of their own from the dashboard, no superuser needed.
                campaign_creator_grant(user=User.objects.get(username=username))
        for spec in CAMPAIGNS:
            campaign = Campaign.objects.filter(slug=spec["slug"]).first() or campaign_create(
                slug=spec["slug"], name=spec["name"], mode=spec["mode"], overlap=spec["overlap"],
                qc_rate=spec["qc_rate"], instructions=INSTRUCTIONS,
                **{k: spec[k] for k in ("prelabels", "prelabel_share") if k in spec},
            )
            for username, role in DEMO_USERS:
                membership_set(campaign=campaign, user=User.objects.get(username=username), role=role)
    imports: dict[str, ImportResult | None] = {}
    for spec in CAMPAIGNS:
        campaign = Campaign.objects.get(slug=spec["slug"])
        if campaign.tasks.exists():
            imports[campaign.slug] = None
            continue
        if spec["gsm8k"]:
            imports[campaign.slug] = solutions_import(campaign=campaign, path=path, fmt="gsm8k", progress=progress)
        else:
            imports[campaign.slug] = solutions_import(campaign=campaign, path=MATH_FILE, fmt="solutions",
                                                      progress=progress)
    # Other apps' part of the demo (active learning: its settings and the demo's gold items).
    for spec in CAMPAIGNS:
        for hook in extensions.demo_hooks():
            hook(campaign=Campaign.objects.get(slug=spec["slug"]), spec=spec)
    return DemoResult(users_created=created, imports=imports)
