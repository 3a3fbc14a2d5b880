"""Manager API: who may create campaigns (labeling.add_campaign). Interfaces only.

Open to anyone who can create campaigns; others get 403.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api.serializers import StrictSerializer
from labeling.dashboard import campaign_selectors as csel
from labeling.dashboard import creator_selectors as crsel
from labeling.errors import Forbidden
from labeling.services import creators as creator_svc


class CreatorsIn(StrictSerializer):
    who = serializers.ListField(child=serializers.CharField(max_length=254), min_length=1,
                                max_length=creator_svc.MAX_PEOPLE,
                                help_text="usernames or email addresses of existing accounts")


class CreatorOut(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(allow_null=True, help_text="shown to administrators and to its owner, else null")
    how = serializers.ChoiceField(choices=["granted", "group", "administrator"])
    groups = serializers.ListField(child=serializers.CharField())
    is_superuser = serializers.BooleanField()
    revocable = serializers.BooleanField(help_text="a direct grant, which this API can take back")
    granted_by = serializers.CharField(allow_null=True)
    granted_at = serializers.DateTimeField(allow_null=True)
    managing = serializers.IntegerField(help_text="campaigns they manage")
    last_login = serializers.DateTimeField(allow_null=True)


class CreatorChangeOut(serializers.Serializer):
    at = serializers.DateTimeField()
    change = serializers.ChoiceField(choices=["granted", "revoked"])
    username = serializers.CharField(allow_null=True)
    by = serializers.CharField(allow_null=True)


class CreatorListOut(serializers.Serializer):
    results = CreatorOut(many=True)
    changes = CreatorChangeOut(many=True, help_text="grants and revokes, newest first (the last 50)")


class CreatorGrantedOut(serializers.Serializer):
    who = serializers.CharField()
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    granted = serializers.BooleanField(help_text="false where they already could")


class CreatorsAddedOut(serializers.Serializer):
    results = CreatorGrantedOut(many=True)


class CreatorRevokedOut(serializers.Serializer):
    username = serializers.CharField()
    user_id = serializers.IntegerField()
    revoked = serializers.BooleanField()
    still_can = serializers.BooleanField(help_text="they keep it as an administrator or through a group")


class _CreatorView(APIView):
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not csel.can_create_campaigns(user=request.user):
            raise Forbidden("this needs the labeling.add_campaign permission")


class CreatorsView(_CreatorView):
    @extend_schema(responses={200: CreatorListOut}, operation_id="manage_creators_list",
                   description="Everyone who can create campaigns, how (granted, group, administrator), "
                               "who granted it and when; and the recent grants and revokes.")
    def get(self, request):
        return Response({"results": crsel.campaign_creators(viewer=request.user),
                         "changes": crsel.creator_changes(limit=50)})

    @extend_schema(request=CreatorsIn, responses={200: CreatorsAddedOut}, operation_id="manage_creators_add",
                   description="Let existing accounts create campaigns; all or nothing, idempotent per person.")
    def post(self, request):
        ser = CreatorsIn(data=request.data)
        ser.is_valid(raise_exception=True)
        return Response({"results": creator_svc.campaign_creators_add(who=ser.validated_data["who"],
                                                                      by=request.user)})


class CreatorView(_CreatorView):
    @extend_schema(request=None, responses={200: CreatorRevokedOut}, operation_id="manage_creators_revoke",
                   description="Take back a direct grant; campaigns they made and their roles stay. 409 for an "
                               "administrator, a group's permission, or the last person who can create campaigns.")
    def delete(self, request, username):
        return Response(creator_svc.campaign_creator_revoke(username=username, by=request.user))
