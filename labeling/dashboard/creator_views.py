"""The Campaign creators page: who may create campaigns, grant and revoke. Interfaces only.

Open to anyone who can create campaigns (the labeling.add_campaign permission).
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from labeling.dashboard import campaign_selectors as csel
from labeling.dashboard import creator_selectors as crsel
from labeling.dashboard.forms import CreatorsAddForm
from labeling.errors import LabelingError
from labeling.services import creators as creator_svc


def _require_creator(request) -> None:
    if not csel.can_create_campaigns(user=request.user):
        raise PermissionDenied("this page is for people who can create campaigns")


@login_required
@require_http_methods(["GET", "POST"])
def creators(request):
    _require_creator(request)
    form = CreatorsAddForm(data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            rows = creator_svc.campaign_creators_add(who=re.split(r"[\s,;]+", form.cleaned_data["people"]),
                                                     by=request.user)
        except LabelingError as exc:
            form.add_error("people", exc.message)
        else:
            new = [r["username"] for r in rows if r["granted"]]
            old = [r["username"] for r in rows if not r["granted"]]
            text = f"{', '.join(new)} can now create campaigns" if new else ""
            if old:
                text += ("; " if text else "") + f"{', '.join(old)} already could"
            messages.success(request, text)
            return redirect("dashboard:creators")
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "dashboard/creators.html", {
        "form": form, "rows": crsel.campaign_creators(viewer=request.user), "changes": crsel.creator_changes(limit=30),
        "candidates": crsel.creator_candidates(user=request.user),
    }, status=status)


@login_required
@require_POST
def creator_revoke(request):
    _require_creator(request)
    username = request.POST.get("username", "")
    if username == request.user.get_username() and request.POST.get("confirm") != "yes":
        messages.error(request, "tick the box to revoke your own permission to create campaigns")
        return redirect("dashboard:creators")
    try:
        result = creator_svc.campaign_creator_revoke(username=username, by=request.user)
    except LabelingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{username}'s grant is revoked, but they keep it as an administrator or through "
                                  f"a group" if result["still_can"] else
                         f"{username} can no longer create campaigns; the campaigns they run are unchanged")
        if username == request.user.get_username():
            return redirect("dashboard:index")
    return redirect("dashboard:creators")
