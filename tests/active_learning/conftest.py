import pytest
from django.db.models import F

from active_learning.models import ActiveLearningConfig
from labeling.models import Task
from tests.active_learning.tiny_models import build_tiny_bert, build_tiny_qwen2
from tests.factories import CampaignFactory, ProblemFactory, SolutionFactory, TaskFactory, UserFactory, submitted_labels


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory):
    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


def label(task, annotator, ratings):
    """Submitted labels plus the task counters the assignment service would keep."""
    a = submitted_labels(task, annotator, ratings)
    Task.objects.filter(pk=task.pk).update(taken=F("taken") + 1, completed=F("completed") + 1)
    task.refresh_from_db()
    return a


@pytest.fixture
def al_campaign(tiny_bert_dir, settings, tmp_path):
    """12 problems x 3 solutions: one right, two with a visible "wrong" step. The first 6 problems labeled."""
    settings.CHECKPOINT_DIR = tmp_path / "checkpoints"
    campaign = CampaignFactory(slug="al", overlap=1)
    ActiveLearningConfig.objects.create(
        campaign=campaign, min_labels=4, refill_size=8, per_problem_cap=2, heldout_fraction=0.25,
        model_config={"backbone": str(tiny_bert_dir), "max_length": 64, "max_problem_tokens": 16},
        train_config={"epochs": 4, "batch_size": 8, "learning_rate": 3e-3},
        # Six labeled problems leave no meaningful held-out metric; the gate has tests of its own.
        promotion_gate=False,
    )
    labeler = UserFactory()
    tasks = []
    for p in range(12):
        problem = ProblemFactory(text=f"problem {p} eggs per day")
        good = SolutionFactory(problem=problem, answer_is_correct=True, final_answer="4",
                               steps=[f"so {p} is right", "so 2 is right", "the answer is 4"])
        bad1 = SolutionFactory(problem=problem, answer_is_correct=False, final_answer="5",
                               steps=[f"so {p} is right", "so 2 is wrong", "the answer is 5"])
        bad2 = SolutionFactory(problem=problem, answer_is_correct=False, final_answer="6",
                               steps=[f"so {p} is wrong", "so 3 is wrong", "the answer is 6"])
        trio = [TaskFactory(campaign=campaign, solution=s) for s in (good, bad1, bad2)]
        if p < 6:
            label(trio[0], labeler, [1, 1, 1])
            label(trio[1], labeler, [1, -1])
            label(trio[2], labeler, [-1])
        tasks += trio
    return campaign, tasks
