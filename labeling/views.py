from django.contrib import messages
from django.contrib.auth import authenticate, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_POST

from labeling import selectors
from labeling.errors import LabelingError, NotFound
from labeling.services import accounts
from labeling.services.users import profile_get_or_create

NEW_TOKEN_KEY = "account_new_api_token"  # noqa: S105 - the session entry's name, not a secret


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


def _password_ok(request, field: str) -> bool:
    # Through authenticate(), so django-axes counts wrong guesses as at the login form.
    return authenticate(request, username=request.user.get_username(), password=request.POST.get(field, "")) is not None


@never_cache  # the page right after "make a token" shows the key: no cache may keep it
@login_required
def account(request):
    """One's own account: the labeler id in exports, the password and the API token for scripts."""
    error = None
    if request.method == "POST":
        p1, p2 = request.POST.get("new_password1", ""), request.POST.get("new_password2", "")
        if p1 != p2:
            error = "the two new passwords differ"
        elif not _password_ok(request, "old_password"):
            error = "your current password is not right"
        else:
            try:
                accounts.user_password_set(user=request.user, password=p1)
            except LabelingError as exc:
                error = exc.message.rstrip(".")
            else:
                update_session_auth_hash(request, request.user)  # stay signed in here, out everywhere else
                messages.success(request, "your password is changed")
                return redirect("account")
    return render(request, "labeling/account.html", {
        "profile": profile_get_or_create(user=request.user),
        "token": selectors.api_token_of(user=request.user),
        # A new key is shown once, on the page right after it was made.
        "new_token": request.session.pop(NEW_TOKEN_KEY, None),
        "password_error": error,
    }, status=400 if error else 200)


@require_POST
@login_required
def account_token(request):
    action = request.POST.get("action")
    if action == "create":
        # The password, not only the session: a borrowed or stolen session must not turn into
        # API access that outlives it (a password change signs other sessions out, not tokens).
        if not _password_ok(request, "password"):
            messages.error(request, "enter your current password to make a token")
        else:
            request.session[NEW_TOKEN_KEY] = accounts.api_token_create(user=request.user).key
            messages.success(request, "a new API token is made; any earlier one no longer works")
    elif action == "revoke":
        revoked = accounts.api_token_revoke(user=request.user)
        messages.success(request, "your API token no longer works" if revoked else "you had no API token")
    else:
        messages.error(request, "unknown action: use create or revoke")
    return redirect("account")
