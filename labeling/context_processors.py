"""Template context shared by every page."""

from django.utils.functional import SimpleLazyObject

from labeling import extensions
from labeling.models import Membership


def navigation(request):
    """`can_manage`: show the Manage link only to campaign managers and admins (evaluated lazily);
    `dashboard_tabs`: the dashboard tabs other apps registered (labeling.extensions)."""

    def can_manage() -> bool:
        user = request.user
        if not user.is_authenticated:
            return False
        return user.is_superuser or Membership.objects.filter(user=user, role=Membership.Role.MANAGER).exists()

    return {"can_manage": SimpleLazyObject(can_manage), "dashboard_tabs": extensions.dashboard_tabs()}
