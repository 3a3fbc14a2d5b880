"""The campaign options that `campaign_create` and `import_solutions --create` share."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from labeling.models import Campaign
from labeling.services.staffing import MemberEntry


def add_arguments(parser, *, prefix_help: str = "") -> None:
    g = parser.add_argument_group("campaign settings" + prefix_help)
    g.add_argument("--name", help="display name (default: the slug)")
    g.add_argument("--mode", choices=Campaign.Mode.values, help="first_error (default) or all_steps")
    g.add_argument("--reveal", choices=Campaign.Reveal.values, help="first-error mode: all (default) or progressive")
    g.add_argument("--overlap", type=int, help="labels per solution (default 1)")
    g.add_argument("--qc-rate", type=float, help="share of gold items served (default 0.05)")
    g.add_argument("--lease-minutes", type=int, help="lease of a task on screen (default 30)")
    g.add_argument("--screening-size", type=int, help="gold items a new annotator labels first (default 0)")
    g.add_argument("--hourly-rate", help="cost of an active hour, for the time and cost report")
    g.add_argument("--critique", choices=Campaign.Ask.values, help="critique of a negative step (default optional)")
    g.add_argument("--error-types", choices=Campaign.Ask.values,
                   help="error types of a negative step (default optional)")
    g.add_argument("--error-taxonomy-file", type=Path,
                   help="error types, one per line 'key: label: description' (default: PRMBench's categories)")
    g.add_argument("--prelabels", choices=Campaign.Prelabels.values,
                   help="suggested step ratings to verify: off (default), model (the active PRM) or imported "
                        "(the import file's step_prelabels)")
    g.add_argument("--prelabel-share", type=float,
                   help="share of normal tasks shown suggestions; the rest are the unaided control (default 0.8)")
    g.add_argument("--instructions-file", type=Path, help="Markdown instructions shown to annotators")
    g.add_argument("--annotators", default="", help="comma-separated usernames or emails (new emails are invited)")
    g.add_argument("--experts", default="", help="annotators who may also adjudicate")
    g.add_argument("--managers", default="", help="comma-separated usernames or emails of managers")


def settings_from(opts: dict) -> dict:
    out = {}
    for opt, name in [("mode", "mode"), ("reveal", "reveal"), ("overlap", "overlap"), ("qc_rate", "qc_rate"),
                      ("lease_minutes", "lease_minutes"), ("screening_size", "screening_size"),
                      ("hourly_rate", "hourly_rate"), ("critique", "critique"), ("error_types", "error_types"),
                      ("prelabels", "prelabels"), ("prelabel_share", "prelabel_share")]:
        if opts.get(opt) is not None:
            out[name] = opts[opt]
    if opts.get("instructions_file"):
        try:
            out["instructions"] = Path(opts["instructions_file"]).read_text()
        except OSError as exc:
            raise CommandError(f"cannot read --instructions-file: {exc}") from exc
    if opts.get("error_taxonomy_file"):
        try:
            out["error_taxonomy"] = Path(opts["error_taxonomy_file"]).read_text()
        except OSError as exc:
            raise CommandError(f"cannot read --error-taxonomy-file: {exc}") from exc
    return out


def members_from(opts: dict) -> list[MemberEntry]:
    entries = []
    for opt, role in [("annotators", "annotator"), ("experts", "expert"), ("managers", "manager")]:
        entries += [MemberEntry(who=w.strip(), role=role) for w in (opts.get(opt) or "").split(",") if w.strip()]
    return entries


def report(stdout, setup) -> None:
    for m in setup.members:
        line = f"{m.role} {m.username}" + (" (new account)" if m.created else "")
        if m.invite_url:
            line += f": one-time invite link {m.invite_url}"
        elif m.emailed:
            line += ": invite mailed"
        stdout.write(line)


def base_url() -> str:
    return settings.SITE_URL
