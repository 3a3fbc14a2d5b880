from labeling.models import access  # noqa: F401 - registers the permission audit trigger
from labeling.models.campaigns import Campaign, Membership, Profile, Task
from labeling.models.grading import GraderReview
from labeling.models.invites import Invite
from labeling.models.jobs import Job
from labeling.models.labels import Assignment, GoldStepLabel, StepAlternative, StepLabel
from labeling.models.outbox import OutboxMessage
from labeling.models.prelabels import StepPrelabel
from labeling.models.problems import Problem, Solution, Step
from labeling.models.quality import Adjudication, AgreementSnapshot, GoldScore

__all__ = [
    "Adjudication",
    "AgreementSnapshot",
    "GoldScore",
    "Assignment",
    "Campaign",
    "GoldStepLabel",
    "GraderReview",
    "Invite",
    "Job",
    "Membership",
    "OutboxMessage",
    "Problem",
    "Profile",
    "Solution",
    "Step",
    "StepAlternative",
    "StepLabel",
    "StepPrelabel",
    "Task",
]
