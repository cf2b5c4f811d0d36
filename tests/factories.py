"""factory-boy factories for the models tests build."""

import factory
from allauth.account.models import EmailAddress

from apps.accounts.models import User

TEST_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        self.set_password(extracted or TEST_PASSWORD)
        if create:
            self.save(update_fields=["password"])
            EmailAddress.objects.get_or_create(
                user=self, email=self.email, defaults={"primary": True, "verified": True}
            )


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "organizations.Organization"

    name = factory.Sequence(lambda n: f"Company {n}")
    slug = factory.Sequence(lambda n: f"company-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "organizations.Membership"

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = "viewer"


# Journeys (appended by the journeys work): child rows inherit their parent's organisation.
class JourneyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "journeys.Journey"

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Journey {n}")
    language = "en"


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "journeys.Stage"

    journey = factory.SubFactory(JourneyFactory)
    organization = factory.SelfAttribute("journey.organization")
    name = factory.Sequence(lambda n: f"Stage {n}")
    position = factory.Sequence(lambda n: n)


class TouchpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "journeys.Touchpoint"

    stage = factory.SubFactory(StageFactory)
    journey = factory.SelfAttribute("stage.journey")
    organization = factory.SelfAttribute("stage.organization")
    name = factory.Sequence(lambda n: f"Touchpoint {n}")
    position = factory.Sequence(lambda n: n)
