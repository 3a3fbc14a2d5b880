from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from labeling.selectors import campaigns_for_user


@login_required
def home(request):
    return render(request, "labeling/home.html", {"campaigns": campaigns_for_user(user=request.user)})
