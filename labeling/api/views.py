"""Annotator API. Interfaces only: parse, call a service or selector, render."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import selectors
from labeling.api import serializers as s
from labeling.api.filters import AssignmentFilter
from labeling.errors import NotFound
from labeling.models import Assignment
from labeling.services import assignments as leasing
from labeling.services import submissions


def _ratings(data) -> list[submissions.RatingIn]:
    return [submissions.RatingIn(step=r["step"], rating=r["rating"], flagged=r["flagged"], critique=r["critique"],
                                 error_types=tuple(r["error_types"])) for r in data["ratings"]]


def _payload(assignment) -> Response:
    return Response(selectors.assignment_payload(assignment=assignment))


class CampaignListView(APIView):
    @extend_schema(responses=s.CampaignStatsSerializer(many=True))
    def get(self, request):
        rows = selectors.annotator_campaign_stats(user=request.user)
        return Response(s.CampaignStatsSerializer(rows, many=True).data)


class NextTaskView(APIView):
    @extend_schema(request=s.NextSerializer, responses={200: s.TaskPayloadSerializer,
                                                        204: OpenApiResponse(description="nothing left")})
    def post(self, request, slug):
        ser = s.NextSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        campaign = selectors.campaign_for_member(user=request.user, slug=slug)
        a = leasing.assignment_next(user=request.user, campaign=campaign, exclude_id=d.get("exclude"),
                                    prefetch=d["prefetch"])
        if a is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return _payload(a)


class AssignmentListView(ListAPIView):
    serializer_class = s.AssignmentListSerializer
    filterset_class = AssignmentFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Assignment.objects.none()
        return Assignment.objects.filter(annotator=self.request.user).select_related("campaign").order_by("-pk")


class AssignmentDetailView(APIView):
    @extend_schema(responses=s.TaskPayloadSerializer)
    def get(self, request, pk):
        a = get_object_or_404(Assignment.objects.select_related("campaign", "solution__problem"), pk=pk)
        if a.annotator_id != request.user.pk:
            raise NotFound(f"no assignment {pk}")
        return _payload(a)


class DraftView(APIView):
    @extend_schema(request=s.DraftSerializer, responses={200: s.DraftSavedSerializer})
    def put(self, request, pk):
        ser = s.DraftSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        a = submissions.assignment_save_draft(
            assignment_id=pk, user=request.user, ratings=_ratings(d), active_ms=d["active_ms"],
            corrected_step=d["corrected_step"], note=d["note"], ui=d.get("ui"),
            segments=d.get("segments", submissions.UNCHANGED),
        )
        return Response({"saved": True, "lease_expires_at": a.lease_expires_at})


class HeartbeatView(APIView):
    @extend_schema(request=s.HeartbeatSerializer, responses={200: s.LeaseSerializer})
    def post(self, request, pk):
        ser = s.HeartbeatSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        a = leasing.assignment_heartbeat(assignment_id=pk, user=request.user, active_ms=ser.validated_data["active_ms"])
        return Response({"lease_expires_at": a.lease_expires_at})


class SubmitView(APIView):
    @extend_schema(request=s.SubmitSerializer, responses=s.TaskPayloadSerializer)
    def post(self, request, pk):
        ser = s.SubmitSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        a = submissions.assignment_submit(
            assignment_id=pk, user=request.user, submission_id=d["submission_id"], ratings=_ratings(d),
            finish_reason=d.get("finish_reason"), note=d["note"], corrected_step=d["corrected_step"],
            active_ms=d["active_ms"], segments=d.get("segments", submissions.UNCHANGED),
        )
        return _payload(a)


class SkipView(APIView):
    @extend_schema(request=s.SkipSerializer, responses={200: s.SkippedSerializer})
    def post(self, request, pk):
        ser = s.SkipSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        leasing.assignment_skip(assignment_id=pk, user=request.user, note=ser.validated_data["note"])
        return Response({"skipped": True})


class OpenView(APIView):
    @extend_schema(request=None, responses=s.TaskPayloadSerializer,
                   description="Show this task now (the one fetched ahead, or Resume after a lapsed lease): "
                               "renews it on the full lease, or leases it again if the task still has room; "
                               "409 task_taken when it went to someone else.")
    def post(self, request, pk):
        return _payload(leasing.assignment_open(assignment_id=pk, user=request.user))


class ReleaseView(APIView):
    @extend_schema(request=None, responses={200: s.ReleasedSerializer},
                   description="Give back a task fetched ahead and never shown (the page sends it with "
                               "navigator.sendBeacon when it closes). A task on screen keeps its lease.")
    def post(self, request, pk):
        return Response({"released": leasing.assignment_release(assignment_id=pk, user=request.user)})
