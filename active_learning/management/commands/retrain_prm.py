from django.core.management.base import BaseCommand, CommandError

from active_learning.models import TrainingRun
from active_learning.services.cycles import cycle_run_inline
from active_learning.services.training import training_run_request
from labeling.errors import LabelingError
from labeling.models import Campaign


class Command(BaseCommand):
    help = "Retrain the campaign's PRM, score its pool and refill its queue (the same cycle beat runs)."

    def add_arguments(self, parser):
        parser.add_argument("--campaign", required=True, help="campaign slug")
        parser.add_argument(
            "--inline", action="store_true",
            help="run the cycle in this process instead of handing it to the training worker",
        )

    def handle(self, *args, **opts):
        campaign = Campaign.objects.filter(slug=opts["campaign"]).first()
        if campaign is None:
            raise CommandError(f"no campaign '{opts['campaign']}'")
        try:
            run = training_run_request(
                campaign=campaign, trigger=TrainingRun.Trigger.COMMAND, enqueue=not opts["inline"]
            )
            if not opts["inline"]:
                self.stdout.write(f"queued training run {run.pk} for '{campaign.slug}' on the training queue")
                return
            self.stdout.write(f"training run {run.pk}: training, scoring and refilling in this process...")
            run = cycle_run_inline(run_id=run.pk)
        except LabelingError as exc:
            raise CommandError(str(exc)) from exc
        m = run.metrics or {}
        rep = run.report or {}
        self.stdout.write(
            f"run {run.pk} {run.status}: model v{run.model.version if run.model else '-'} "
            f"({'promoted' if run.promoted else 'not promoted'}; {rep.get('promotion', '')})\n"
            f"  data: {run.data_counts}\n"
            f"  held-out: step AUROC {m.get('step_auroc')}, first-error F1 {m.get('first_error_f1')}, "
            f"solution AUROC {m.get('solution_auroc')}, ECE {m.get('ece')}, best-of-N {m.get('best_of_n')}\n"
            f"  scoring: {rep.get('scoring')}\n  refill: {rep.get('refill')}\n"
            f"  cycle: {rep.get('cycle_seconds')} s"
        )
