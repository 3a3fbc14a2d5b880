"""Export by API: `GET /api/manage/campaigns/<slug>/export/?format=…`, streamed. Interfaces only.

Scripts authenticate with a token (`Authorization: Token …`) like the rest of /api/manage/.
JSONL formats stream row by row in constant memory; hf-dataset, a directory, is built in a
temporary directory and sent as a .zip. Bad parameters are a 400 in the API's error shape
before the first byte is sent.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation

from labeling.api.manage import ManagerView
from labeling.exporting.filters import FINISH_REASONS, INCLUDE, params_from_querydict
from labeling.exporting.formats import AGGREGATIONS, DIRECTORY_FORMATS, EXPORT_FORMATS
from labeling.services.exports import export_lines, export_options_parse, labels_export


class _NoFormatOverride(DefaultContentNegotiation):
    """`format` here names the export format, not a DRF renderer: always answer with the first
    renderer (JSON, for errors); the export itself is a plain streaming response."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class _TempDirFile(FileResponse):
    """A FileResponse that removes its temporary directory once the file is sent."""

    def __init__(self, *args, tmpdir: str, **kwargs):
        self._tmpdir = tmpdir
        super().__init__(*args, **kwargs)

    def close(self):
        super().close()
        shutil.rmtree(self._tmpdir, ignore_errors=True)


_P = OpenApiParameter
PARAMETERS = [
    _P("format", str, enum=list(EXPORT_FORMATS), required=True, description="export format"),
    _P("aggregate", str, enum=list(AGGREGATIONS),
       description="none: a row per labeling; majority (default for training formats); adjudicated"),
    _P("neutral", str, enum=["positive", "negative"], description="a neutral step counts as correct (positive)"),
    _P("alternatives", bool, description="trl: rows for rated phase-1 alternatives (default true)"),
    _P("submitted_after", OpenApiTypes.DATETIME, description="inclusive"),
    _P("submitted_before", OpenApiTypes.DATETIME, description="exclusive"),
    _P("annotator", str, many=True, description="username or labeler id; repeat or comma-separate"),
    _P("generation", int, many=True, description="queue generation the task was served from"),
    _P("gold", str, enum=list(INCLUDE), description="labelings of gold items"),
    _P("qc", str, enum=list(INCLUDE), description="labelings of quality-control and screening questions"),
    _P("finish_reason", str, many=True, enum=list(FINISH_REASONS)),
    _P("test_fraction", float, description="hf-dataset: share of problems in the test split (default 0.1)"),
    _P("seed", int, description="hf-dataset: seed of the split"),
    _P("license", str, description="hf-dataset: license in the dataset card (default other)"),
]


class ExportView(ManagerView):
    content_negotiation_class = _NoFormatOverride

    @extend_schema(
        parameters=PARAMETERS,
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.BINARY, description="JSONL rows"),
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description=(
                "hf-dataset: a .zip of the dataset directory")),
        },
        description="Stream a campaign's labels in a PRM training format, with the export filters.",
    )
    def get(self, request, slug):
        campaign = self.campaign(request, slug)
        options = export_options_parse(params_from_querydict(request.query_params))
        name = f"{campaign.slug}-{options.fmt}-{options.resolved_aggregate}"
        if options.fmt in DIRECTORY_FORMATS:
            tmpdir = tempfile.mkdtemp(prefix="export-")
            try:
                out = Path(tmpdir) / name
                labels_export(campaign=campaign, fmt=options.fmt, options=options, output=out)
                archive = shutil.make_archive(str(out), "zip", root_dir=tmpdir, base_dir=name)
                fh = open(archive, "rb")  # noqa: SIM115 - the response closes it
            except BaseException:
                shutil.rmtree(tmpdir, ignore_errors=True)
                raise
            return _TempDirFile(fh, as_attachment=True, filename=f"{name}.zip", content_type="application/zip",
                                tmpdir=tmpdir)
        lines = export_lines(campaign=campaign, fmt=options.fmt, options=options)
        first = next(lines, b"")  # parameter and database errors surface here, as a 400 / 503

        def body():
            if first:
                yield first
            yield from lines

        resp = StreamingHttpResponse(body(), content_type="application/x-ndjson")
        resp["Content-Disposition"] = f'attachment; filename="{name}.jsonl"'
        return resp
