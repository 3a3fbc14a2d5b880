"""Simulated annotators: label a campaign through the real assignment services."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable

from django.contrib.auth import get_user_model

from active_learning.oracle import as_submission, perturb
from labeling.models import Campaign, Membership
from labeling.services.assignments import assignment_next, assignment_skip
from labeling.services.campaigns import membership_set, user_create
from labeling.services.submissions import RatingIn, assignment_submit

Oracle = Callable[..., "list[int | None] | None"]


def simulated_annotators_ensure(*, campaign: Campaign, count: int) -> list:
    """`count` simulated annotator logins (unusable passwords), members of the campaign."""
    User = get_user_model()
    users = []
    for i in range(1, count + 1):
        name = f"sim-{i}"
        user = User.objects.filter(username=name).first() or user_create(username=name, password=None)
        membership_set(campaign=campaign, user=user, role=Membership.Role.ANNOTATOR)
        users.append(user)
    return users


def annotators_simulate(
    *, campaign: Campaign, oracle: Oracle, annotators: int = 3, count: int = 100,
    rate_per_minute: float | None = None, seed: int = 0, sleep: Callable[[float], None] = time.sleep,
    on_submit: Callable[[int], None] | None = None, noise: float = 0.0,
) -> dict:
    """Submit up to `count` labels from oracle ratings, round-robin over simulated annotators.

    Invariants: every label goes through assignment_next / assignment_submit,
    so leases, overlap, QC serving and idempotency apply exactly as for
    people; a solution the oracle has no ratings for is skipped (visible as
    a skip), never guessed. `rate_per_minute` paces the whole crowd.
    `noise` makes the crowd uneven: annotator i of n slips on a label with
    probability noise * i / n (sim-1 is the most careful), so QC accuracy
    and agreement differ between them as they would between people.
    """
    rng = random.Random(seed)
    users = simulated_annotators_ensure(campaign=campaign, count=annotators)
    first_error = campaign.mode == Campaign.Mode.FIRST_ERROR
    submitted = skipped = 0
    idle: set[int] = set()
    turn = 0
    while submitted < count and len(idle) < len(users):
        user = users[turn % len(users)]
        turn += 1
        if user.pk in idle:
            continue
        a = assignment_next(user=user, campaign=campaign, rng=rng)
        if a is None:
            idle.add(user.pk)
            continue
        sol = a.solution
        steps = list(sol.steps.order_by("index").values_list("text", flat=True))
        ratings = oracle(
            sol.problem.text, steps, answer_correct=sol.answer_is_correct,
            reference=sol.problem.ground_truth_solution,
        )
        if ratings and noise:
            ratings = perturb(ratings, rng=rng, error_rate=noise * (users.index(user) + 1) / len(users),
                              n_steps=len(steps))
        pairs = as_submission(ratings, first_error=first_error, n_steps=len(steps)) if ratings else []
        complete = pairs and ((first_error and pairs[-1][1] == -1) or len(pairs) == len(steps))
        if not complete:
            assignment_skip(assignment_id=a.pk, user=user, note="simulated annotator: no oracle labels")
            skipped += 1
            continue
        assignment_submit(
            assignment_id=a.pk, user=user, submission_id=uuid.uuid4(),
            ratings=[RatingIn(step=s, rating=r) for s, r in pairs],
            active_ms=int(sum(rng.uniform(4000, 15000) for _ in pairs)),
        )
        submitted += 1
        if on_submit is not None:
            on_submit(submitted)
        if rate_per_minute:
            sleep(60.0 / rate_per_minute)
    return {"submitted": submitted, "skipped": skipped, "annotators": len(users)}
