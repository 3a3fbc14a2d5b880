"""Imports and export files by API, and their jobs (mounted under /api/manage/campaigns/<slug>/). Interfaces only.

The same jobs as the dashboard's Import & export page: an upload is stored and a worker imports it
(all or nothing); an export file is written by a worker and downloaded once the job succeeded.
"""

from __future__ import annotations

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from labeling.api.manage import ManagerView
from labeling.api.parsers import JSONParser
from labeling.api.serializers import StrictSerializer
from labeling.dashboard import selectors as sel
from labeling.errors import ValidationFailed
from labeling.importing.formats import FORMATS
from labeling.models import Job
from labeling.services import jobs as job_svc
from labeling.services.exports import export_options_parse

# What a job's answer shows of its stored parameters: never the server-side paths.
SHOWN_PARAMS = ("filename", "format", "split", "as_gold", "drop_labels", "bytes", "aggregate", "neutral",
                "alternatives", "test_fraction", "seed", "license", "submitted_after", "submitted_before", "annotators",
                "generations", "gold", "qc", "finish_reasons")


class JobOut(serializers.ModelSerializer):
    params = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()
    rows = serializers.SerializerMethodField()
    download = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "kind", "status", "params", "progress_done", "progress_total", "summary", "rows", "error",
                  "created_at", "started_at", "finished_at", "download"]

    def get_params(self, job) -> dict:
        return {k: job.params[k] for k in SHOWN_PARAMS if k in job.params}

    def get_summary(self, job) -> str:
        return job.result.get("summary", "")

    def get_rows(self, job) -> int | None:
        return job.result.get("rows")

    def get_download(self, job) -> str | None:
        if job.kind != Job.Kind.EXPORT or job.status != Job.Status.SUCCEEDED:
            return None
        return reverse("api-manage-job-download", kwargs={"slug": job.campaign.slug, "job_id": job.pk})


class ImportIn(StrictSerializer):
    file = serializers.FileField(help_text="the JSONL file (up to IMPORT_UPLOAD_MAX_MB)")
    format = serializers.ChoiceField(choices=list(FORMATS), default="auto")
    split = serializers.CharField(default="blank", allow_blank=True,
                                  help_text="how steps are split (solutions format): blank, newline or a regular "
                                            "expression")
    labels = serializers.ChoiceField(choices=list(job_svc.IMPORT_LABELS), required=False, help_text=(
        "what the file's labels become: labels (the default; they count toward the campaign's labels per "
        "solution), gold (quality-control items) or none (left out: the solutions come in to be labeled)"))
    as_gold = serializers.BooleanField(default=False, help_text="the same as labels=gold (kept for scripts)")

    def validate(self, attrs):
        if attrs.get("as_gold") and attrs.get("labels", "gold") != "gold":
            raise serializers.ValidationError({"as_gold": ["contradicts labels"]})
        return attrs


class ImportView(ManagerView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": ImportIn}, responses={202: JobOut},
                   description="Upload a file to import into the campaign; a worker imports it, all or nothing "
                               "(a file with one bad line imports nothing and the job names the line). Poll the "
                               "job for its result.")
    def post(self, request, slug):
        campaign = self.campaign(request, slug)
        data = ImportIn(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        job = job_svc.import_job_create(
            campaign=campaign, filename=upload.name, chunks=upload.chunks(), user=request.user,
            fmt=data.validated_data["format"], split=data.validated_data["split"] or "blank",
            as_gold=data.validated_data["as_gold"] or data.validated_data.get("labels") == "gold",
            drop_labels=data.validated_data.get("labels") == "none")
        return Response(JobOut(job).data, status=202)


class ExportJobView(ManagerView):
    parser_classes = [JSONParser]

    @extend_schema(request=inline_serializer("ExportJobIn", {"format": serializers.CharField()}),
                   responses={202: JobOut},
                   description="Have a worker write an export file (for exports too big to stream, and "
                               "hf-dataset). Takes the parameters of GET .../export/ as a JSON object; download "
                               "the file from the job's `download` once it succeeded.")
    def post(self, request, slug):
        campaign = self.campaign(request, slug)
        if not isinstance(request.data, dict):
            raise ValidationFailed('send a JSON object of export parameters, such as {"format": "trl"}')
        params = {k: v if isinstance(v, list) else str(v) for k, v in request.data.items() if v is not None}
        job = job_svc.export_job_create(campaign=campaign, user=request.user, options=export_options_parse(params))
        return Response(JobOut(job).data, status=202)


class JobListView(ManagerView):
    @extend_schema(responses={200: inline_serializer("JobList", {"results": JobOut(many=True),
                                                                 "count": serializers.IntegerField()})},
                   operation_id="manage_campaigns_jobs_list",
                   description="The campaign's import and export jobs, newest first (the latest 50).")
    def get(self, request, slug):
        jobs, total = sel.campaign_jobs(campaign=self.campaign(request, slug), kinds=(Job.Kind.IMPORT, Job.Kind.EXPORT),
                                        limit=50)
        return Response({"results": JobOut(jobs, many=True).data, "count": total})


class JobView(ManagerView):
    @extend_schema(responses={200: JobOut}, description="One job: status, progress, and its result or error.")
    def get(self, request, slug, job_id):
        return Response(JobOut(sel.campaign_job(campaign=self.campaign(request, slug), job_id=job_id)).data)


class JobDownloadView(ManagerView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)},
                   description="The file a succeeded export job wrote (404 until then).")
    def get(self, request, slug, job_id):
        job = sel.campaign_job(campaign=self.campaign(request, slug), job_id=job_id)
        path, name = sel.job_export_file(job=job)
        return FileResponse(open(path, "rb"), as_attachment=True, filename=name)

