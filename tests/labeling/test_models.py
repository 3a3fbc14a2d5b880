"""The database itself enforces the data model's invariants."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.models import Assignment, Campaign, StepLabel
from tests.factories import AssignmentFactory, CampaignFactory, SolutionFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def _fails(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def test_step_rating_must_be_minus_one_zero_or_one():
    a = AssignmentFactory()
    step = a.solution.steps.first()
    _fails(lambda: StepLabel.objects.create(assignment=a, step=step, rating=2))
    StepLabel.objects.create(assignment=a, step=step, rating=-1)
    # one label per (assignment, step): a double submit cannot store twice
    _fails(lambda: StepLabel.objects.create(assignment=a, step=step, rating=1))


def test_annotator_cannot_hold_two_assignments_for_one_solution():
    a = AssignmentFactory()
    _fails(lambda: AssignmentFactory(task=a.task, annotator=a.annotator))
    AssignmentFactory(task=a.task, annotator=UserFactory())  # another annotator may


def test_problem_unique_per_source_and_step_unique_index():
    sol = SolutionFactory(steps=["a"])
    from labeling.models import Problem, Step

    _fails(lambda: Problem.objects.create(source=sol.problem.source, source_id=sol.problem.source_id, text="x"))
    _fails(lambda: Step.objects.create(solution=sol, index=0, text="dup"))


@pytest.mark.parametrize(
    "changes", [{"overlap": 0}, {"qc_rate": 1.5}, {"lease_minutes": 0}, {"mode": "whatever"}]
)
def test_campaign_settings_are_checked(changes):
    c = CampaignFactory()
    for k, v in changes.items():
        setattr(c, k, v)
    _fails(c.save)


def test_assignment_status_invariants():
    task = TaskFactory()
    _fails(lambda: Assignment.objects.create(campaign=task.campaign, task=task, solution=task.solution,
                                             annotator=UserFactory(), status="submitted"))
    _fails(lambda: Assignment.objects.create(campaign=task.campaign, task=task, solution=task.solution,
                                             annotator=UserFactory(), status="leased", lease_expires_at=None))
    _fails(lambda: Assignment.objects.create(campaign=task.campaign, task=task, solution=task.solution,
                                             annotator=UserFactory(), status="submitted",
                                             submitted_at=timezone.now(), finish_reason="bored"))


def test_campaign_defaults_describe_a_usable_campaign():
    c = Campaign.objects.create(slug="x", name="X")
    assert (c.mode, c.overlap, c.show_ground_truth, c.lease_minutes) == ("first_error", 1, True, 30)


def test_the_reserved_slugs_are_exactly_the_dashboards_own_pages():
    from django.urls import get_resolver

    from labeling.models.campaigns import RESERVED_SLUGS

    # Every literal first segment under /manage/ (labeling's pages and those apps mount there,
    # as active learning does) would shadow a campaign's overview.
    manage = [p for p in get_resolver().url_patterns if str(p.pattern) == "manage/"]
    assert len(manage) >= 2
    literal = {str(p.pattern).split("/")[0] for m in manage for p in m.url_patterns} - {"", "<slug:slug>"}
    assert literal == set(RESERVED_SLUGS)


@pytest.mark.parametrize("slug", ["creators", "new"])
def test_the_database_and_model_validation_refuse_a_reserved_slug(slug):
    from django.core.exceptions import ValidationError

    _fails(lambda: CampaignFactory(slug=slug))
    campaign = CampaignFactory(slug=f"{slug}-ok")
    campaign.slug = slug
    # What the admin's change form runs: a named error on the page, not a 500 on save.
    with pytest.raises(ValidationError, match="reserved for a dashboard page"):
        campaign.full_clean()


def test_the_migration_renames_a_campaign_made_before_its_slug_was_reserved():
    import importlib

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("labeling.migrations.0014_campaign_slug_not_reserved")
    # Postgres DDL is transactional: the constraint comes back when the test's transaction rolls back.
    with connection.cursor() as cur:
        cur.execute("ALTER TABLE labeling_campaign DROP CONSTRAINT campaign_slug_not_reserved")
    old = CampaignFactory(slug="creators")
    CampaignFactory(slug="creators-campaign")  # the first choice is taken
    untouched = CampaignFactory(slug="news")
    migration.rename_reserved(apps, None)
    old.refresh_from_db()
    untouched.refresh_from_db()
    assert (old.slug, untouched.slug) == ("creators-campaign-2", "news")
    assert not Campaign.objects.filter(slug__in=["creators", "new"]).exists()
