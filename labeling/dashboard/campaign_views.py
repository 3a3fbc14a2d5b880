"""Campaign pages: new campaign, settings and status, members and invites. Interfaces only.

A new campaign needs the labeling.add_campaign permission; settings and
members need the campaign's manager role (manager_page). The invite page is
public: its one-time token is the credential.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from labeling.dashboard import campaign_selectors as csel
from labeling.dashboard import costs
from labeling.dashboard import selectors as sel
from labeling.dashboard.forms import CampaignSettingsForm, MembersAddForm, NewCampaignForm
from labeling.dashboard.views import manager_page
from labeling.errors import LabelingError, NotFound
from labeling.services import campaigns as camp_svc
from labeling.services import staffing

STATUS_ACTIONS = {"pause": "paused", "resume": "active", "close": "closed", "reopen": "active", "archive": "archived",
                  "unarchive": "closed"}
# The buttons each status offers (labeling.services.campaigns.STATUS_MOVES says what is allowed).
STATUS_BUTTONS = {
    "active": [("pause", "Pause labeling"), ("close", "Close the campaign")],
    "paused": [("resume", "Resume labeling"), ("close", "Close the campaign")],
    "closed": [("reopen", "Reopen for labeling"), ("archive", "Archive")],
    "archived": [("unarchive", "Unarchive")],
}


def _settings(form) -> dict:
    return {name: form.cleaned_data[name] for name in CampaignSettingsForm.base_fields}


@login_required
def campaign_new(request):
    if not csel.can_create_campaigns(user=request.user):
        raise PermissionDenied("creating campaigns needs the labeling.add_campaign permission")
    source = None
    if request.GET.get("from"):
        try:  # only a campaign you manage can be copied: its settings are a manager's to see
            source = sel.campaign_for_manager(user=request.user, slug=request.GET["from"])
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except LabelingError as exc:
            raise PermissionDenied(exc.message) from exc
    data = request.POST or None
    form = NewCampaignForm.copy_of(source, data=data) if source else NewCampaignForm.defaults(data=data)
    if request.method == "POST" and form.is_valid():
        try:
            if source:
                campaign, added = camp_svc.campaign_copy(
                    source=source, slug=form.cleaned_data["slug"], created_by=request.user,
                    members=form.cleaned_data["copy_members"], **_settings(form))
            else:
                campaign, added = camp_svc.campaign_create(slug=form.cleaned_data["slug"], created_by=request.user,
                                                           **_settings(form)), 0
        except LabelingError as exc:
            form.add_error(None, exc.message)
        else:
            people = f", with {added} {'person' if added == 1 else 'people'} from '{source.slug}'" if added else ""
            messages.success(request, f"campaign '{campaign.slug}' created{people}: "
                                      f"{'check the people' if added else 'add people'}, then import solutions")
            return redirect("dashboard:members", slug=campaign.slug)
    return render(request, "dashboard/campaign_form.html", {"form": form, "new": True, "source": source})


@manager_page
def campaign_settings(request, campaign):
    form = CampaignSettingsForm.for_campaign(campaign, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            change = camp_svc.campaign_update(campaign=campaign, changes=_settings(form))
        except LabelingError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, change.summary())
            return redirect("dashboard:settings", slug=campaign.slug)
    return render(request, "dashboard/campaign_form.html", {
        "form": form, "campaign": campaign, "tab": "settings", "new": False,
        "buttons": STATUS_BUTTONS[campaign.status], "can_copy": csel.can_create_campaigns(user=request.user),
    })


@require_POST
@manager_page
def campaign_status(request, campaign):
    action = request.POST.get("action", "")
    if action not in STATUS_ACTIONS:
        messages.error(request, f"unknown action {action!r}")
    else:
        try:
            camp_svc.campaign_status_set(campaign=campaign, status=STATUS_ACTIONS[action])
        except LabelingError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"campaign is now {STATUS_ACTIONS[action]}")
    return redirect("dashboard:settings", slug=campaign.slug)


@manager_page
def members(request, campaign):
    form = MembersAddForm(data=request.POST or None)
    added = None
    if request.method == "POST" and form.is_valid():
        try:
            entries = staffing.member_entries_parse(form.cleaned_data["people"], default_role=form.cleaned_data["role"])
            added = staffing.members_add(campaign=campaign, entries=entries, by=request.user,
                                         base_url=request.build_absolute_uri("/"))
        except LabelingError as exc:
            form.add_error("people", exc.message)
        else:
            messages.success(request, f"added {len(added)} {'person' if len(added) == 1 else 'people'}")
            form = MembersAddForm()
    return render(request, "dashboard/members.html", {
        "campaign": campaign, "tab": "members", "form": form, "added": added,
        "rows": csel.campaign_members(campaign=campaign), "member_roles": camp_svc.MEMBER_ROLES,
    })


@require_POST
@manager_page
def member_remove(request, campaign):
    try:
        n = staffing.members_remove(campaign=campaign, who=[request.POST.get("who", "")])
    except LabelingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"removed {request.POST.get('who')}" if n else "nothing to remove")
    return redirect("dashboard:members", slug=campaign.slug)


@require_POST
@manager_page
def member_role(request, campaign, user_id: int):
    try:
        m = camp_svc.membership_role_change(campaign=campaign, user_id=user_id, role=request.POST.get("role", ""))
    except LabelingError as exc:
        messages.error(request, exc.message)
    else:
        role = "expert" if m.role == "annotator" and m.can_adjudicate else m.role
        messages.success(request, f"{m.user.get_username()} is now {'an' if role[0] in 'ae' else 'a'} {role}")
    return redirect("dashboard:members", slug=campaign.slug)


@require_POST
@manager_page
def member_rate(request, campaign, user_id: int):
    try:
        m = camp_svc.membership_rate_set(campaign=campaign, user_id=user_id,
                                         hourly_rate=request.POST.get("hourly_rate"))
    except LabelingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{m.user.get_username()}: " + (
            f"{m.hourly_rate} an hour" if m.hourly_rate is not None else "the campaign's rate"))
    return redirect("dashboard:members", slug=campaign.slug)


def invite(request, token):
    try:
        inv = staffing.invite_lookup(token=token)
    except NotFound as exc:
        return render(request, "registration/invite.html", {"invalid": exc.message}, status=404)
    error = None
    if request.method == "POST":
        p1, p2 = request.POST.get("password1", ""), request.POST.get("password2", "")
        if p1 != p2:
            error = "the two passwords differ"
        else:
            try:
                user = staffing.invite_accept(token=token, password=p1)
            except LabelingError as exc:
                error = exc.message
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, f"welcome, {user.get_username()}: your password is set")
                return redirect("home")
    return render(request, "registration/invite.html", {"invite": inv, "error": error}, status=400 if error else 200)


def _cost_params(request) -> dict:
    return {"period": request.GET.get("period", "week"), "since": request.GET.get("since") or None,
            "until": request.GET.get("until") or None}


@manager_page
def cost(request, campaign):
    params = _cost_params(request)
    try:
        rows = costs.time_cost(campaign=campaign, **params)
    except LabelingError as exc:
        messages.error(request, exc.message)
        params, rows = {"period": "week", "since": None, "until": None}, costs.time_cost(campaign=campaign)
    return render(request, "dashboard/cost.html", {
        "campaign": campaign, "tab": "cost", "rows": rows, "totals": costs.time_cost_totals(rows), **params,
        "query": request.GET.urlencode(),
    })


@manager_page
def cost_csv(request, campaign):
    params = _cost_params(request)
    try:
        rows = costs.time_cost(campaign=campaign, **params)
    except LabelingError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain")
    resp = HttpResponse(costs.time_cost_csv(rows), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="{campaign.slug}-time-cost-{params["period"]}.csv"'
    return resp
