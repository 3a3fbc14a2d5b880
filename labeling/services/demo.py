"""The demo campaigns that `make run` loads (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from labeling.demo_accounts import DEMO_PASSWORD, DEMO_USERS
from labeling.models import Campaign, Membership, Task
from labeling.services.campaigns import campaign_create, membership_set, user_create
from labeling.services.imports import ImportResult, solutions_import
from labeling.services.quality import gold_set

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
    # Long MATH solutions with heavy LaTeX: the 12 real PRM800K solutions, unlabeled.
    {"slug": "math-first-error", "name": "MATH (PRM800K) solutions: first error", "mode": "first_error",
     "overlap": 2, "qc_rate": 0.0, "gsm8k": False},
]
# Gold items per demo campaign, half with a correct final answer (every step
# positive) and half wrong (first error located against the reference).
DEMO_GOLD = 16


# Short cycles so the loop is visible within minutes on a laptop: retrain
# after 40 new labels (or every 15 minutes if anything arrived). The model and
# training budget are the shipped defaults; scoring the 5k-solution pool takes
# about 25 s on 2 cores.
DEMO_AL = {"retrain_after_labels": 40, "retrain_every_minutes": 15, "min_labels": 30, "refill_size": 200}


def _demo_active_learning(campaign: Campaign) -> None:
    from active_learning.models import ActiveLearningConfig

    ActiveLearningConfig.objects.get_or_create(campaign=campaign, defaults=DEMO_AL)


@dataclass
class DemoResult:
    users_created: list[str]
    imports: dict[str, ImportResult | None]


def demo_load(*, path: Path = DEMO_FILE, progress=None) -> DemoResult:
    """Create the demo users and campaigns and import the GSM8K samples.

    Idempotent: existing users keep their passwords, a campaign that already
    has tasks is not re-imported.
    """
    created = []
    with transaction.atomic():
        for username, role in DEMO_USERS:
            if not User.objects.filter(username=username).exists():
                user_create(username=username, password=DEMO_PASSWORD, is_staff=(role == Membership.Role.MANAGER))
                created.append(username)
        for spec in CAMPAIGNS:
            campaign = Campaign.objects.filter(slug=spec["slug"]).first() or campaign_create(
                slug=spec["slug"], name=spec["name"], mode=spec["mode"], overlap=spec["overlap"],
                qc_rate=spec["qc_rate"], instructions=INSTRUCTIONS,
            )
            for username, role in DEMO_USERS:
                membership_set(campaign=campaign, user=User.objects.get(username=username), role=role)
            if spec["gsm8k"]:
                _demo_active_learning(campaign)
    imports: dict[str, ImportResult | None] = {}
    for spec in CAMPAIGNS:
        campaign = Campaign.objects.get(slug=spec["slug"])
        if campaign.tasks.exists():
            imports[campaign.slug] = None
            continue
        if spec["gsm8k"]:
            imports[campaign.slug] = solutions_import(campaign=campaign, path=path, fmt="gsm8k", progress=progress)
            demo_gold_seed(campaign=campaign, count=DEMO_GOLD)
        else:
            imports[campaign.slug] = solutions_import(campaign=campaign, path=MATH_FILE, fmt="solutions",
                                                      progress=progress)
    return DemoResult(users_created=created, imports=imports)


@transaction.atomic
def demo_gold_seed(*, campaign: Campaign, count: int) -> int:
    """Promote `count` demo solutions to gold with reference-derived step labels (idempotent).

    Correct-answer solutions become all-positive gold; wrong-answer ones get
    their first error from the reference-matching heuristic. Real campaigns
    take gold from experts (the review page or an import with --gold).
    """
    from active_learning.oracle import reference_oracle

    if Task.objects.filter(campaign=campaign, is_gold=True).exists():
        return 0
    made = 0
    # The heuristic locates only the first error, so all-steps gold is taken
    # from correct-answer solutions alone.
    first_error = campaign.mode == Campaign.Mode.FIRST_ERROR
    for want_correct in (True, False) if first_error else (True,):
        tasks = (
            Task.objects.filter(campaign=campaign, is_gold=False, taken=0, solution__answer_is_correct=want_correct)
            .select_related("solution__problem")
            .order_by("-id")[: count // 2 if first_error else count]
        )
        for task in tasks:
            sol = task.solution
            steps = list(sol.steps.order_by("index").values_list("text", flat=True))
            ratings = reference_oracle(sol.problem.text, steps, answer_correct=sol.answer_is_correct,
                                       reference=sol.problem.ground_truth_solution)
            gold_set(campaign=campaign, solution=sol, ratings=ratings, note="demo gold (reference-derived)")
            made += 1
    return made
