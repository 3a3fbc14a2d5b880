import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labeling.errors import LabelingError
from labeling.exporting.filters import FINISH_REASONS
from labeling.exporting.formats import AGGREGATIONS, DIRECTORY_FORMATS, EXPORT_FORMATS
from labeling.models import Campaign
from labeling.services.exports import export_options_parse, labels_export


class Command(BaseCommand):
    help = ("Export a campaign's submitted labels for PRM training: JSONL (prm800k, trl, processbench, critique, "
            "math_shepherd, openrlhf, rlhflow) or an hf-dataset directory (splits and a dataset card).")

    def add_arguments(self, parser):
        parser.add_argument("--campaign", required=True, help="campaign slug")
        parser.add_argument("--format", required=True, choices=EXPORT_FORMATS)
        parser.add_argument("--output", type=Path, default=None,
                            help="file to write (default: stdout); a directory for hf-dataset")
        parser.add_argument("--aggregate", default=None, choices=AGGREGATIONS,
                            help="with several annotators per solution: a row each (none), the per-step majority "
                                 "or the adjudicated labels (default: none for prm800k and critique, majority "
                                 "for the training formats)")
        parser.add_argument("--neutral", default="positive", choices=["positive", "negative"],
                            help="training formats: a neutral step counts as correct (positive, the paper's "
                                 "convention) or not (negative, trl-lib/prm800k's)")
        parser.add_argument("--no-alternatives", action="store_true",
                            help="trl: leave out the extra rows for rated phase-1 alternative completions")
        parser.add_argument("--test-fraction", default="0.1", help="hf-dataset: share of problems in test")
        parser.add_argument("--seed", default="0", help="hf-dataset: seed of the split by problem")
        parser.add_argument("--license", default="other", help="hf-dataset: license written into the card")
        parser.add_argument("--submitted-after", default=None, help="ISO date or time (inclusive)")
        parser.add_argument("--submitted-before", default=None, help="ISO date or time (exclusive)")
        parser.add_argument("--annotator", action="append", default=[],
                            help="only these annotators: username or labeler id (repeatable)")
        parser.add_argument("--generation", action="append", default=[],
                            help="only tasks served from this queue generation (repeatable)")
        parser.add_argument("--gold", default="include", choices=["include", "exclude", "only"],
                            help="labelings of gold items")
        parser.add_argument("--qc", default="include", choices=["include", "exclude", "only"],
                            help="labelings of quality-control and screening questions")
        parser.add_argument("--finish-reason", action="append", default=[], choices=FINISH_REASONS,
                            help="only labelings that finished so (repeatable)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    def handle(self, *args, **opts):
        campaign = Campaign.objects.filter(slug=opts["campaign"]).first()
        if campaign is None:
            raise CommandError(f"no campaign '{opts['campaign']}'")
        params = {
            "format": opts["format"], "aggregate": opts["aggregate"], "neutral": opts["neutral"],
            "alternatives": "false" if opts["no_alternatives"] else "true", "test_fraction": opts["test_fraction"],
            "seed": opts["seed"], "license": opts["license"], "submitted_after": opts["submitted_after"],
            "submitted_before": opts["submitted_before"], "annotator": opts["annotator"],
            "generation": opts["generation"], "gold": opts["gold"], "qc": opts["qc"],
            "finish_reason": opts["finish_reason"],
        }
        if opts["format"] in DIRECTORY_FORMATS and opts["output"] is None:
            raise CommandError(f"--format {opts['format']} writes a directory: give --output DIR")
        bar = None

        def progress(done, total):
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit="solution" if options.resolved_aggregate != "none" else "labeling",
                           file=sys.stderr, disable=opts["no_progress"] or None, leave=False)
            bar.update(done - bar.n)

        try:
            options = export_options_parse(params)
            result = labels_export(
                campaign=campaign, fmt=options.fmt, output=opts["output"], options=options, progress=progress,
                stream=None if opts["output"] else sys.stdout.buffer,
            )
        except LabelingError as exc:
            raise CommandError(exc.message) from exc
        except BrokenPipeError:
            # `export_labels ... | head`: the reader left; not an error.
            sys.stdout = None
            return
        finally:
            if bar is not None:
                bar.close()
        where = result.path or "stdout"
        self.stderr.write(f"{result.summary()} to {where}")
