"""Manager API for running campaigns: create, settings, status, members. Interfaces only.

Creating needs the Django permission labeling.add_campaign; everything else
the campaign's manager role (or admin), like the rest of /api/manage/.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api import manage_serializers as out
from labeling.api.manage import ManagerView
from labeling.api.serializers import StrictSerializer, json_types_check
from labeling.dashboard import campaign_selectors as csel
from labeling.dashboard import costs
from labeling.dashboard.error_types import error_type_report
from labeling.dashboard.history import campaign_history
from labeling.dashboard.prelabels import prelabel_report
from labeling.errors import Forbidden, ValidationFailed
from labeling.services import campaigns as camp_svc
from labeling.services import staffing


class CampaignIn(serializers.Serializer):
    """Settings are checked by the service (labeling.services.campaigns.settings_clean)."""

    slug = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)


class MembersIn(StrictSerializer):
    entries = serializers.ListField(child=serializers.CharField(max_length=254), required=False, max_length=500)
    text = serializers.CharField(required=False, allow_blank=True, max_length=200000,
                                 help_text="a pasted list or CSV: one person per line, `who[,role]`")
    role = serializers.ChoiceField(choices=staffing.ROLES, default="annotator")

    def validate(self, attrs):
        if not attrs.get("entries") and not (attrs.get("text") or "").strip():
            raise serializers.ValidationError("give `entries` (usernames or emails) or `text` (a pasted list)")
        return attrs


class RemoveIn(StrictSerializer):
    who = serializers.ListField(child=serializers.CharField(max_length=254), min_length=1, max_length=500)


def _settings_body(data, schema: serializers.Serializer) -> dict:
    """The settings of a create or PATCH body. JSON values keep their JSON types (`"overlap": "3"` is a
    400, as everywhere in the API); the service then checks ranges and choices."""
    if not isinstance(data, dict):
        raise ValidationFailed("send a JSON object of settings")
    json_types_check(schema, data)
    return {k: v for k, v in data.items() if k != "slug"}


class CampaignCreateView(APIView):
    @extend_schema(request=out.CampaignCreateIn, responses={201: out.CampaignOut},
                   description="Create a campaign with any of its settings; you become its manager.")
    def post(self, request):
        if not csel.can_create_campaigns(user=request.user):
            raise Forbidden("creating campaigns needs the labeling.add_campaign permission")
        settings = _settings_body(request.data, out.CampaignCreateIn())
        ser = CampaignIn(data=request.data)
        ser.is_valid(raise_exception=True)
        campaign = camp_svc.campaign_create(
            slug=ser.validated_data["slug"], created_by=request.user,
            **{**settings, "name": ser.validated_data["name"]},
        )
        return Response(csel.campaign_settings(campaign=campaign), status=status.HTTP_201_CREATED)


class CampaignDetailView(ManagerView):
    @extend_schema(responses={200: out.CampaignOut})
    def get(self, request, slug):
        return Response(csel.campaign_settings(campaign=self.campaign(request, slug)))

    @extend_schema(request=out.CampaignSettingsIn, responses={200: out.CampaignChangedOut},
                   description="Change settings (and `status`); a new overlap applies to the existing pool.")
    def patch(self, request, slug):
        campaign = self.campaign(request, slug)
        changes = _settings_body(request.data, out.CampaignSettingsIn())
        change = camp_svc.campaign_update(campaign=campaign, changes=changes)
        return Response({**csel.campaign_settings(campaign=change.campaign), "changed": change.changed,
                         "reopened": change.reopened, "closed": change.closed, "summary": change.summary()})


class MembersView(ManagerView):
    @extend_schema(responses={200: out.MemberListOut})
    def get(self, request, slug):
        return Response({"results": csel.campaign_members(campaign=self.campaign(request, slug))})

    @extend_schema(request=MembersIn, responses={200: out.MembersAddedOut})
    def post(self, request, slug):
        campaign = self.campaign(request, slug)
        ser = MembersIn(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        entries = [staffing.MemberEntry(who=w.strip(), role=d["role"]) for w in d.get("entries") or []]
        if (d.get("text") or "").strip():
            entries += staffing.member_entries_parse(d["text"], default_role=d["role"])
        results = staffing.members_add(campaign=campaign, entries=entries, by=request.user,
                                       base_url=request.build_absolute_uri("/"))
        return Response({"results": out.MembersAddedRowOut(results, many=True).data})

    @extend_schema(request=RemoveIn, responses={200: out.MembersRemovedOut})
    def delete(self, request, slug):
        campaign = self.campaign(request, slug)
        ser = RemoveIn(data=request.data)
        ser.is_valid(raise_exception=True)
        return Response({"removed": staffing.members_remove(campaign=campaign, who=ser.validated_data["who"])})


class CostQuery(serializers.Serializer):
    period = serializers.ChoiceField(choices=["day", "week"], default="week")
    since = serializers.DateField(required=False, help_text="first day, YYYY-MM-DD")
    until = serializers.DateField(required=False, help_text="last day (inclusive), YYYY-MM-DD")


class CostView(ManagerView):
    @extend_schema(parameters=[CostQuery], responses={200: out.CostOut},
                   description="Time and cost per annotator and day or week, newest period first.")
    def get(self, request, slug):
        campaign = self.campaign(request, slug)
        q = CostQuery(data=request.query_params)
        q.is_valid(raise_exception=True)
        d = q.validated_data
        rows = costs.time_cost(campaign=campaign, period=d["period"], since=d.get("since"), until=d.get("until"))
        totals = {k: (str(v) if v is not None and not isinstance(v, int) else v)
                  for k, v in costs.time_cost_totals(rows).items()}
        return Response({"results": [r.as_dict() for r in rows], "totals": totals,
                         "hourly_rate": str(campaign.hourly_rate) if campaign.hourly_rate is not None else None})


class HistoryQuery(StrictSerializer):
    solution = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    annotator = serializers.CharField(required=False, max_length=150,
                                      help_text="a user id or a username (as export filters take)")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=200)


class HistoryView(ManagerView):
    @extend_schema(parameters=[HistoryQuery], responses={200: out.HistoryOut},
                   description="The audit trail, newest first: changes to submitted labels, gold labels, "
                               "adjudications, memberships and settings, with who, when, and before and after.")
    def get(self, request, slug):
        campaign = self.campaign(request, slug)
        q = HistoryQuery(data=request.query_params)
        q.is_valid(raise_exception=True)
        d = q.validated_data
        who = d.get("annotator")
        annotator_id = csel.user_id_for(campaign=campaign, who=who) if who else None
        return Response({"results": campaign_history(campaign=campaign, solution_id=d.get("solution"),
                                                     annotator_id=annotator_id, limit=d["limit"])})


class ErrorTypesView(ManagerView):
    @extend_schema(responses={200: out.ErrorTypeReportOut},
                   description="What annotators say is wrong with negative steps: error-type counts over the "
                               "campaign and per annotator, critiques written, and agreement with gold types.")
    def get(self, request, slug):
        return Response(error_type_report(campaign=self.campaign(request, slug)))


class PrelabelReportView(ManagerView):
    @extend_schema(responses={200: out.PrelabelReportOut},
                   description="Do suggested ratings bias the labels? Agreement with the suggestion where it was "
                               "shown against the unaided control, override rates, inter-annotator agreement per "
                               "arm, and accuracy on gold of annotators and of the suggestions.")
    def get(self, request, slug):
        return Response(prelabel_report(campaign=self.campaign(request, slug)))


class RoleIn(StrictSerializer):
    role = serializers.ChoiceField(choices=list(camp_svc.MEMBER_ROLES),
                                   help_text="expert: an annotator who may also adjudicate")


class MemberRoleView(ManagerView):
    @extend_schema(request=RoleIn, responses={200: out.MemberOut},
                   description="Change a member's role, down as well as up (re-adding someone never demotes a "
                               "manager); the campaign keeps at least one manager.")
    def post(self, request, slug, user_id):
        campaign = self.campaign(request, slug)
        ser = RoleIn(data=request.data)
        ser.is_valid(raise_exception=True)
        camp_svc.membership_role_change(campaign=campaign, user_id=user_id, role=ser.validated_data["role"])
        row = next(m for m in csel.campaign_members(campaign=campaign) if m["user_id"] == user_id)
        return Response(row)
