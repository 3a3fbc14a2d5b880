from django.core.management.base import BaseCommand, CommandError

from active_learning.oracle import LabeledOracle, reference_oracle
from active_learning.services.simulated import annotators_simulate
from labeling.errors import LabelingError
from labeling.models import Campaign


class Command(BaseCommand):
    help = (
        "Label a campaign with simulated annotators through the real assignment services. Ratings come "
        "from --dataset (PRM800K-format, exact) or, without it, from a reference-matching heuristic."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", required=True)
        parser.add_argument("--dataset", help="fully labeled PRM800K-format JSONL to take ratings from")
        parser.add_argument("--annotators", type=int, default=3)
        parser.add_argument("--count", type=int, default=100, help="labels to submit (stops early when done)")
        parser.add_argument("--rate", type=float, default=None, help="labels per minute across all annotators")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--noise", type=float, default=0.0,
                            help="slip rate of the least careful annotator (annotator i of n slips at noise*i/n)")

    def handle(self, *args, **opts):
        campaign = Campaign.objects.filter(slug=opts["campaign"]).first()
        if campaign is None:
            raise CommandError(f"no campaign '{opts['campaign']}'")
        if opts["annotators"] < 1 or opts["count"] < 1:
            raise CommandError("--annotators and --count must be positive")
        if opts["dataset"]:
            try:
                oracle = LabeledOracle.from_file(opts["dataset"])
            except (OSError, ValueError) as exc:
                raise CommandError(str(exc)) from exc
            source = f"{len(oracle.table)} labeled solutions from {opts['dataset']}"
        else:
            oracle, source = reference_oracle, "reference-matching heuristic"
        self.stdout.write(f"simulating {opts['annotators']} annotators on '{campaign.slug}' ({source})")

        def tick(n: int) -> None:
            if n % 25 == 0:
                self.stdout.write(f"  {n} labels submitted")

        try:
            result = annotators_simulate(
                campaign=campaign, oracle=oracle, annotators=opts["annotators"], count=opts["count"],
                rate_per_minute=opts["rate"], seed=opts["seed"], on_submit=tick,
                noise=opts["noise"],
            )
        except LabelingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"submitted {result['submitted']} labels ({result['skipped']} skipped: no oracle labels)"
        ))
