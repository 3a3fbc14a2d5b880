"""Content-Security-Policy for our pages.

Defence in depth for untrusted model text: even if something slipped past
the sanitiser, the browser would run no inline or foreign script. Django's
admin is left to its own defaults.
"""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy and not request.path.startswith("/admin/"):
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
