import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from labeling import models
from labeling.services.summaries import assignments_summarize


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-123")

    @factory.post_generation
    def profile(obj, create, extracted, **kwargs):
        if create:
            models.Profile.objects.get_or_create(user=obj)
            obj.save()


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Campaign

    slug = factory.Sequence(lambda n: f"campaign-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Membership

    campaign = factory.SubFactory(CampaignFactory)
    user = factory.SubFactory(UserFactory)


class ProblemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Problem

    source = "test"
    source_id = factory.Sequence(lambda n: f"p{n}")
    text = factory.Sequence(lambda n: f"What is {n} + {n}?")
    ground_truth_answer = "42"


class SolutionFactory(factory.django.DjangoModelFactory):
    """A solution with `steps` (a list of texts) created as Step rows."""

    class Meta:
        model = models.Solution
        skip_postgeneration_save = True

    problem = factory.SubFactory(ProblemFactory)
    generator = "test-model"
    content_hash = factory.Sequence(lambda n: f"{n:064x}")
    final_answer = "42"
    answer_is_correct = True

    @factory.post_generation
    def steps(obj, create, extracted, **kwargs):
        texts = extracted if extracted is not None else ["Step one.", "Step two.", "# Answer\n\n42"]
        if create:
            models.Step.objects.bulk_create(
                [models.Step(solution=obj, index=i, text=t) for i, t in enumerate(texts)]
            )


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Task

    campaign = factory.SubFactory(CampaignFactory)
    solution = factory.SubFactory(SolutionFactory)


class AssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Assignment

    task = factory.SubFactory(TaskFactory)
    campaign = factory.LazyAttribute(lambda o: o.task.campaign)
    solution = factory.LazyAttribute(lambda o: o.task.solution)
    annotator = factory.SubFactory(UserFactory)
    status = models.Assignment.Status.LEASED
    leased_at = factory.LazyFunction(timezone.now)
    lease_expires_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(minutes=30))


def submitted_labels(task, annotator, ratings, *, finish_reason=None, submitted_at=None):
    """A submitted assignment with one StepLabel per rating (None = unrated, omitted)."""
    now = submitted_at or timezone.now()
    if finish_reason is None:
        finish_reason = "found_error" if -1 in ratings else "solution"
    a = AssignmentFactory(
        task=task, annotator=annotator, status=models.Assignment.Status.SUBMITTED, submitted_at=now,
        lease_expires_at=None, finish_reason=finish_reason, active_ms=1234,
    )
    steps = list(task.solution.steps.order_by("index"))
    models.StepLabel.objects.bulk_create(
        [
            models.StepLabel(assignment=a, step=s, rating=r, chosen_completion=None if r == -1 else 0, final=True)
            for s, r in zip(steps, ratings, strict=False)
            if r is not None
        ]
    )
    assignments_summarize(assignment_ids=[a.pk])  # the step counts the submit service keeps
    a.refresh_from_db()
    return a
