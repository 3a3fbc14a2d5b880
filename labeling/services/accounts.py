"""A signed-in person's own account: password and API token. No manager or admin needed."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework.authtoken.models import Token

from labeling.errors import ValidationFailed


@transaction.atomic
def user_password_set(*, user, password: str) -> None:
    """Give `user` a new password that passes AUTH_PASSWORD_VALIDATORS; ValidationFailed, unchanged, if not."""
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), details={"new_password": exc.messages}) from exc
    user.set_password(password)
    user.save(update_fields=["password"])


@transaction.atomic
def api_token_create(*, user) -> Token:
    """A new API token for `user`; any earlier one stops working at once (one token per person)."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


@transaction.atomic
def api_token_revoke(*, user) -> bool:
    """Delete `user`'s API token; returns whether there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)
