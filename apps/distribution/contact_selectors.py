"""Reads on contact lists, contacts, imports and the suppression list."""

from collections.abc import Iterable

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from apps.organizations.models import Organization

from .models import Contact, ContactImport, ContactList, Suppression


def contact_lists(*, organization: Organization) -> QuerySet[ContactList]:
    """The organisation's lists, each with `contact_count` (one query)."""
    return (
        ContactList.objects.for_organization(organization)
        .annotate(contact_count=Count("contacts"))
        .order_by("name", "id")
    )


def contact_list_get(*, organization: Organization, list_id: int) -> ContactList | None:
    return ContactList.objects.for_organization(organization).filter(pk=list_id).first()


def contacts_search(
    *, organization: Organization, contact_list: ContactList, query: str = ""
) -> QuerySet[Contact]:
    """Contacts of a list whose address, name or an attribute value contains `query`, each
    with `opted_out` (on the suppression list)."""
    contacts = Contact.objects.for_organization(organization).filter(contact_list=contact_list)
    query = (query or "").strip()
    if query:
        condition = Q(email__icontains=query) | Q(name__icontains=query)
        for name in contact_list.attribute_names:
            condition |= Q(**{f"attributes__{name}__icontains": query})
        contacts = contacts.filter(condition)
    return contacts.annotate(
        opted_out=Exists(
            Suppression.objects.for_organization(organization).filter(email=OuterRef("email"))
        )
    ).order_by("email", "id")


def contact_get(*, organization: Organization, contact_id: int) -> Contact | None:
    return (
        Contact.objects.for_organization(organization)
        .select_related("contact_list")
        .filter(pk=contact_id)
        .first()
    )


def contact_import_get(*, organization: Organization, import_id: int) -> ContactImport | None:
    return (
        ContactImport.objects.for_organization(organization)
        .select_related("contact_list")
        .filter(pk=import_id)
        .first()
    )


def contact_imports(*, organization: Organization, contact_list: ContactList) -> QuerySet:
    """Recent imports of a list, without the file contents."""
    return (
        ContactImport.objects.for_organization(organization)
        .filter(contact_list=contact_list)
        .defer("content", "rejected")
    )


def suppressions(*, organization: Organization, query: str = "") -> QuerySet[Suppression]:
    rows = Suppression.objects.for_organization(organization).select_related("campaign")
    if query.strip():
        rows = rows.filter(email__icontains=query.strip())
    return rows


def suppression_get(*, organization: Organization, suppression_id: int) -> Suppression | None:
    return Suppression.objects.for_organization(organization).filter(pk=suppression_id).first()


def suppressed_reasons(*, organization_id: int, emails: Iterable[str]) -> dict[str, str]:
    """Address -> reason, for those of `emails` the organisation never emails."""
    return dict(
        Suppression.objects.for_organization(organization_id)
        .filter(email__in=list(emails))
        .values_list("email", "reason")
    )
