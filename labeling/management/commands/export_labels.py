import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labeling.errors import LabelingError
from labeling.exporting.formats import AGGREGATIONS, EXPORT_FORMATS
from labeling.models import Campaign
from labeling.services.exports import labels_export


class Command(BaseCommand):
    help = "Export a campaign's submitted labels as JSONL (prm800k, trl, processbench or critique)."

    def add_arguments(self, parser):
        parser.add_argument("--campaign", required=True, help="campaign slug")
        parser.add_argument("--format", required=True, choices=EXPORT_FORMATS)
        parser.add_argument("--output", type=Path, default=None, help="file to write (default: stdout)")
        parser.add_argument("--aggregate", default="none", choices=AGGREGATIONS,
                            help="with several annotators per solution: a row each (none) or majority")
        parser.add_argument("--neutral", default="positive", choices=["positive", "negative"],
                            help="trl: count neutral steps as correct (positive, the PRM800K default) or not")

    def handle(self, *args, **opts):
        campaign = Campaign.objects.filter(slug=opts["campaign"]).first()
        if campaign is None:
            raise CommandError(f"no campaign '{opts['campaign']}'")
        try:
            result = labels_export(
                campaign=campaign, fmt=opts["format"], output=opts["output"],
                stream=None if opts["output"] else sys.stdout.buffer,
                aggregate=opts["aggregate"], neutral_is_correct=opts["neutral"] == "positive",
            )
        except LabelingError as exc:
            raise CommandError(exc.message) from exc
        except BrokenPipeError:
            # `export_labels ... | head`: the reader left; not an error.
            sys.stdout = None
            return
        where = result.path or "stdout"
        self.stderr.write(f"exported {result.rows} rows ({result.skipped} skipped) to {where}")
