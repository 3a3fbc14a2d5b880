"""Manager API: the dashboard's figures and actions for scripts. Interfaces only.

Every endpoint requires the campaign's manager role (or admin): annotators
and outsiders get 403, an unknown campaign 404.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api import manage_serializers as out
from labeling.api.filters import AdjudicationFilter, checked
from labeling.api.serializers import StrictSerializer
from labeling.dashboard import selectors as sel
from labeling.dashboard.grader_selectors import grader_review_queue
from labeling.errors import Forbidden, NotFound
from labeling.models import Solution
from labeling.services import adjudication as adj_svc
from labeling.services import grader_review as grader_svc
from labeling.services import quality as qc_svc

RATING = serializers.IntegerField(min_value=-1, max_value=1, allow_null=True)


class RatingsIn(StrictSerializer):
    ratings = serializers.ListField(child=RATING, min_length=1)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class GoldTypesIn(StrictSerializer):
    step = serializers.IntegerField(min_value=0, max_value=32767)
    types = serializers.ListField(child=serializers.CharField(max_length=32), max_length=9)


class GoldIn(RatingsIn):
    error_types = GoldTypesIn(many=True, required=False, help_text=(
        "reference error types of negative gold steps; when left out, a step that stays negative keeps its types"))


class ResolveIn(RatingsIn):
    as_gold = serializers.BooleanField(required=False, default=False)


class StatusIn(StrictSerializer):
    status = serializers.CharField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class ManagerView(APIView):
    def campaign(self, request, slug):
        return sel.campaign_for_manager(user=request.user, slug=slug)


def _jsonable(o: dict) -> dict:
    out = dict(o)
    out["eta_at"] = o["eta_at"].isoformat() if o["eta_at"] else None
    out["bad_reports"] = [{**b, "submitted_at": b["submitted_at"].isoformat()} for b in o["bad_reports"]]
    return out


class OverviewView(ManagerView):
    @extend_schema(responses={200: out.OverviewOut})
    def get(self, request, slug):
        return Response(_jsonable(sel.overview(campaign=self.campaign(request, slug))))


class AnnotatorsView(ManagerView):
    @extend_schema(parameters=[OpenApiParameter("sort", description="a column name, '-' first for descending",
                                                default="-tasks")],
                   responses={200: out.AnnotatorListOut})
    def get(self, request, slug):
        campaign = self.campaign(request, slug)
        rows = sel.annotator_rows(campaign=campaign, sort=request.query_params.get("sort", "-tasks"))
        for r in rows:
            r["last_active"] = r["last_active"].isoformat() if r["last_active"] else None
        return Response({"results": rows})


class AgreementView(ManagerView):
    @extend_schema(responses={200: out.AgreementOut})
    def get(self, request, slug):
        snap = sel.agreement_latest(campaign=self.campaign(request, slug))
        if snap is None:
            return Response({"computed_at": None, "data": None})
        return Response({"computed_at": snap.computed_at.isoformat(), "data": snap.data})


class AdjudicationListView(ManagerView):
    @extend_schema(parameters=[OpenApiParameter("status", enum=["open", "resolved"], default="open")],
                   responses={200: out.AdjudicationListOut})
    def get(self, request, slug):
        status = checked(AdjudicationFilter, request.query_params, status="open")["status"]
        items = sel.adjudication_queue(campaign=self.campaign(request, slug), status=status)
        return Response({"results": [
            {"solution": a.solution_id, "status": a.status, "first_errors": a.first_errors,
             "label_count": a.label_count, "ratings": a.ratings, "created_at": a.created_at.isoformat()}
            for a in items
        ]})


class AdjudicationResolveView(ManagerView):
    @extend_schema(request=ResolveIn, responses={200: out.AdjudicationResolvedOut})
    def post(self, request, slug, solution_id):
        # Designated experts who are not managers resolve too; the service checks who.
        campaign = sel.campaign_by_slug(slug=slug)
        ser = ResolveIn(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        adj = adj_svc.adjudication_resolve(campaign=campaign, solution_id=solution_id, user=request.user,
                                           ratings=d["ratings"], note=d["note"], as_gold=d["as_gold"])
        return Response({"solution": adj.solution_id, "status": adj.status, "ratings": adj.ratings,
                         "first_error_index": adj.first_error_index})


class GoldView(ManagerView):
    @extend_schema(request=GoldIn, responses={200: out.GoldSetOut})
    def put(self, request, slug, solution_id):
        campaign = self.campaign(request, slug)
        ser = GoldIn(data=request.data)
        ser.is_valid(raise_exception=True)
        # Only the campaign's own pool: a manager must not reach into other campaigns.
        solution = Solution.objects.filter(pk=solution_id, tasks__campaign=campaign).first()
        if solution is None:
            raise NotFound(f"solution {solution_id} is not in campaign '{campaign.slug}'")
        d = ser.validated_data
        types = {t["step"]: t["types"] for t in d["error_types"]} if "error_types" in d else None
        task = qc_svc.gold_set(campaign=campaign, solution=solution, ratings=d["ratings"], user=request.user,
                               note=d["note"], error_types=types)
        return Response({"solution": solution.pk, "task": task.pk, "is_gold": task.is_gold})


class MemberStatusView(ManagerView):
    @extend_schema(request=StatusIn, responses={200: out.MemberStatusOut})
    def post(self, request, slug, user_id):
        campaign = self.campaign(request, slug)
        ser = StatusIn(data=request.data)
        ser.is_valid(raise_exception=True)
        m = qc_svc.membership_status_set(campaign=campaign, member_id=user_id, by=request.user,
                                         status=ser.validated_data["status"], reason=ser.validated_data["reason"])
        return Response({"user": m.user_id, "status": m.status, "reason": m.status_reason})


class GraderQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=["open", "resolved"], default="open", required=False)


class GraderResolveIn(StrictSerializer):
    verdict = serializers.BooleanField(help_text="true: the final answer is correct")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


def _grader_row(r) -> dict:
    sol = r.solution
    return {
        "solution_id": r.solution_id, "reason": r.reason, "status": r.status,
        "raised_by": r.assignment.annotator.get_username() if r.assignment else None,
        "extracted_answer": sol.final_answer, "reference_answer": sol.problem.ground_truth_answer,
        "grader_verdict": r.grader_verdict, "grader_version": sol.grader_version, "verdict": r.verdict,
        "note": r.note, "resolved_by": r.resolved_by.get_username() if r.resolved_by else None,
        "resolved_at": r.resolved_at, "created_at": r.created_at,
    }


class GraderReviewListView(APIView):
    @extend_schema(parameters=[GraderQuery], responses={200: out.GraderReviewListOut},
                   description="Solutions whose final-answer verdict a person decides, with the grader's extraction.")
    def get(self, request, slug):
        campaign = sel.campaign_by_slug(slug=slug)
        if not adj_svc.can_adjudicate(user=request.user, campaign=campaign):
            raise Forbidden("only campaign managers and designated experts see grader reviews")
        q = GraderQuery(data=request.query_params)
        q.is_valid(raise_exception=True)
        rows = grader_review_queue(campaign=campaign, status=q.validated_data["status"])
        return Response(out.GraderReviewListOut({"results": [_grader_row(r) for r in rows]}).data)


class GraderResolveView(APIView):
    @extend_schema(request=GraderResolveIn, responses={200: out.GraderReviewOut},
                   description="Decide whether the answer is correct; exports and training use the decision.")
    def post(self, request, slug, solution_id):
        campaign = sel.campaign_by_slug(slug=slug)  # the service checks who may resolve
        ser = GraderResolveIn(data=request.data)
        ser.is_valid(raise_exception=True)
        review = grader_svc.grader_review_resolve(campaign=campaign, solution_id=solution_id, user=request.user,
                                                  verdict=ser.validated_data["verdict"],
                                                  note=ser.validated_data["note"])
        return Response(out.GraderReviewOut(_grader_row(review)).data)
