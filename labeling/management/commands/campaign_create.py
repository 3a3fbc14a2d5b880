from django.core.management.base import BaseCommand, CommandError

from labeling.errors import LabelingError
from labeling.management import campaign_options
from labeling.services.setup import campaign_setup


class Command(BaseCommand):
    help = "Create a campaign with its settings and members (new emails get one-time invite links)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        campaign_options.add_arguments(parser)

    def handle(self, *args, **opts):
        try:
            setup = campaign_setup(
                slug=opts["slug"], name=opts["name"] or opts["slug"], settings=campaign_options.settings_from(opts),
                members=campaign_options.members_from(opts), base_url=campaign_options.base_url(),
            )
        except LabelingError as exc:
            raise CommandError(exc.message) from exc
        campaign_options.report(self.stdout, setup)
        self.stdout.write(self.style.SUCCESS(f"created campaign '{setup.campaign.slug}'"))
