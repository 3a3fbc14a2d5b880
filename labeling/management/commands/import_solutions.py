from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labeling.errors import LabelingError
from labeling.importing.formats import FORMATS
from labeling.management import campaign_options
from labeling.models import Campaign
from labeling.services.imports import solutions_import
from labeling.services.setup import campaign_setup


class Command(BaseCommand):
    help = "Import solutions (and PRM800K labels) from a JSONL file into a campaign. All or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--campaign", required=True, help="campaign slug")
        parser.add_argument("--format", default="auto", choices=FORMATS)
        parser.add_argument(
            "--split", default=None,
            help="how to split a plain 'solution' text into steps: blank (default), newline or regex:PATTERN",
        )
        parser.add_argument("--create", action="store_true",
                            help="create the campaign if it does not exist (all or nothing: a rejected file "
                                 "creates no campaign), with the settings and members below")
        campaign_options.add_arguments(parser, prefix_help=" (with --create)")
        parser.add_argument("--gold", action="store_true",
                            help="labeled records become gold (quality-control) items instead of annotator labels")
        parser.add_argument("--drop-labels", action="store_true",
                            help="leave the file's labels out: its solutions come in for your annotators to label "
                                 "(imported labels otherwise count toward the campaign's labels per solution)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        slug = opts["campaign"]
        campaign = Campaign.objects.filter(slug=slug).first()
        bars: list = []

        def progress(done: int, total: int) -> None:
            # Created on the first batch, i.e. only once validation passed.
            if opts["no_progress"]:
                return
            if not bars:
                bars.append(tqdm(desc="importing", unit="line", total=total))
            bars[0].update(done - bars[0].n)

        file_opts = dict(path=opts["file"], fmt=opts["format"], split=opts["split"] or "blank", progress=progress,
                         as_gold=opts["gold"], drop_labels=opts["drop_labels"])
        setup = None
        try:
            if campaign is None:
                if not opts["create"]:
                    raise CommandError(f"no campaign '{slug}': create it (manage.py campaign_create, the dashboard) "
                                       "or pass --create")
                setup = campaign_setup(
                    slug=slug, name=opts["name"] or slug, settings=campaign_options.settings_from(opts),
                    members=campaign_options.members_from(opts), base_url=campaign_options.base_url(), **file_opts,
                )
                campaign, result = setup.campaign, setup.imported
            else:
                result = solutions_import(campaign=campaign, **file_opts)
        except LabelingError as exc:
            raise CommandError(exc.message) from exc
        finally:
            for bar in bars:
                bar.close()
        self.stdout.write(result.summary())
        if setup is not None:
            campaign_options.report(self.stdout, setup)
        self.stdout.write(self.style.SUCCESS(f"imported into campaign '{campaign.slug}'"))
