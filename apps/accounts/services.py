"""Writes on user accounts."""

from allauth.account.models import EmailAddress
from django.db import transaction

from .models import User


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str,
    full_name: str = "",
    verified: bool = False,
    is_staff: bool = False,
) -> User:
    """Create a user whose email address allauth knows (verified or not)."""
    user = User.objects.create_user(
        email=email, password=password, full_name=full_name, is_staff=is_staff
    )
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=verified)
    return user
