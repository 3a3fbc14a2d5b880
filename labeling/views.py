from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from labeling import selectors
from labeling.errors import NotFound


@login_required
def home(request):
    return render(request, "labeling/home.html", {"campaigns": selectors.annotator_campaign_stats(user=request.user)})


@login_required
@ensure_csrf_cookie
def label(request, slug):
    try:
        campaign = selectors.campaign_for_member(user=request.user, slug=slug)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return render(request, "labeling/label.html", {"campaign": campaign})
