"""The audit trail of who may create campaigns.

Creating campaigns is the Django permission labeling.add_campaign, held in
auth's user-permission table. A trigger on that table records each grant and
revoke with the request's user and URL (pghistory's context), so the Campaign
creators page can say who granted it and when without a second source of truth.
"""

import pghistory
from django.contrib.auth.models import User


# A proxy puts the trigger (and its migration) in this app rather than in auth's.
@pghistory.track(
    pghistory.InsertEvent("permission.granted"),
    pghistory.DeleteEvent("permission.revoked"),
    obj_field=None,  # the row itself goes on revoke; the event keeps user and permission
    model_name="UserPermissionEvent",
)
class UserPermission(User.user_permissions.through):
    class Meta:
        proxy = True
        default_permissions = ()
        app_label = "labeling"
