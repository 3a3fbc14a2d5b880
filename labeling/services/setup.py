"""Setting a campaign up in one go: create it, staff it and import its pool, all or nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from labeling.models import Campaign
from labeling.services.campaigns import campaign_create
from labeling.services.imports import ImportResult, Progress, solutions_import
from labeling.services.staffing import MemberEntry, MemberResult, members_add


@dataclass
class CampaignSetup:
    campaign: Campaign
    members: list[MemberResult]
    imported: ImportResult | None


@transaction.atomic
def campaign_setup(
    *, slug: str, name: str, settings: dict | None = None, created_by=None, members: list[MemberEntry] = (),
    base_url: str = "", path: Path | None = None, fmt: str = "auto", split: str = "blank",
    progress: Progress | None = None, as_gold: bool = False, drop_labels: bool = False,
) -> CampaignSetup:
    """Create a campaign, add its members and import a file into it, in one transaction.

    Invariant: all or nothing. A rejected file (any bad line), an unknown
    member or a bad setting leaves no campaign, no account and no invite.
    """
    campaign = campaign_create(slug=slug, name=name, created_by=created_by, **(settings or {}))
    added = members_add(campaign=campaign, entries=list(members), by=created_by, base_url=base_url) if members else []
    imported = None
    if path is not None:
        imported = solutions_import(campaign=campaign, path=path, fmt=fmt, split=split, progress=progress,
                                    as_gold=as_gold, drop_labels=drop_labels)
    return CampaignSetup(campaign=campaign, members=added, imported=imported)
