"""The audit log page: who sees it, filters without JavaScript, pages, CSV export."""

import csv
import datetime
import io

import pytest

from tests.audit.helpers import make_entry

pytestmark = pytest.mark.django_db

URL = "/o/acme/audit/"


def _day(month, day, hour=12):
    return datetime.datetime(2026, month, day, hour, 0, tzinfo=datetime.UTC)


def test_admins_and_owners_read_the_log_newest_first(client, org, owner, admin):
    make_entry(org, action="api_key.created", target_label="CI key", at=_day(3, 1))
    make_entry(org, action="organization.settings_changed", target_label="Acme Oy",
               data={"changes": {"min_n": [10, 12]}}, at=_day(3, 2))  # fmt: skip
    for user in (owner, admin):
        client.force_login(user)
        response = client.get(URL)
        assert response.status_code == 200
        rows = [entry.action for entry in response.context["page"]]
        assert rows == ["organization.settings_changed", "api_key.created"]
        assert "min n: 10 → 12" in response.text
        assert "203.0.113.5" in response.text


def test_times_are_shown_in_the_organisations_time_zone(admin_client_, org):
    org.time_zone = "Europe/Helsinki"  # UTC+2 in March
    org.save()
    make_entry(org, at=_day(3, 1, hour=22))
    response = admin_client_.get(URL)
    assert "2026-03-02 00:00:00" in response.text
    assert "Europe/Helsinki" in response.text


def test_entries_of_another_organisation_are_never_listed(admin_client_, org, other_org):
    make_entry(org, target_label="ours")
    make_entry(other_org, target_label="theirs-secret", actor_label="spy@rival.example")
    response = admin_client_.get(URL)
    assert [e.target_label for e in response.context["page"]] == ["ours"]
    assert "theirs-secret" not in response.text
    export = admin_client_.get(URL, {"format": "csv"})
    assert "theirs-secret" not in b"".join(export.streaming_content).decode()


@pytest.mark.parametrize("role_client", ["viewer_client", "analyst"])
def test_viewers_and_analysts_get_403(client, request, org, role_client):
    if role_client == "analyst":
        client.force_login(request.getfixturevalue("analyst"))
        web = client
    else:
        web = request.getfixturevalue(role_client)
    make_entry(org)
    assert web.get(URL).status_code == 403
    assert web.get(URL, {"format": "csv"}).status_code == 403


def test_strangers_get_404_and_anonymous_visitors_sign_in(client, stranger_client, org):
    make_entry(org)
    assert stranger_client.get(URL).status_code == 404
    assert stranger_client.get(URL, {"format": "csv"}).status_code == 404
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_filters_by_action_prefix_text_and_dates(admin_client_, org):
    org.time_zone = "UTC"
    org.save()
    make_entry(org, action="api_key.created", actor_label="ann@acme.example",
               target_label="CI key", at=_day(3, 1))  # fmt: skip
    make_entry(org, action="api_key.revoked", actor_label="bob@acme.example",
               target_label="CI key", at=_day(3, 5))  # fmt: skip
    make_entry(org, action="member.role_changed", actor_label="ann@acme.example",
               target_label="carl@acme.example", at=_day(3, 9))  # fmt: skip

    def actions(**params):
        response = admin_client_.get(URL, params)
        assert response.status_code == 200
        return [entry.action for entry in response.context["page"]]

    assert actions(action="api_key") == ["api_key.revoked", "api_key.created"]
    assert actions(q="ANN@") == ["member.role_changed", "api_key.created"]
    assert actions(q="carl") == ["member.role_changed"]
    assert actions(since="2026-03-05") == ["member.role_changed", "api_key.revoked"]
    assert actions(until="2026-03-05") == ["api_key.revoked", "api_key.created"]  # day included
    assert actions(since="2026-03-02", until="2026-03-08") == ["api_key.revoked"]
    assert actions(action="api_key", q="ann") == ["api_key.created"]
    empty = admin_client_.get(URL, {"action": "journey"})
    assert "No entries match these filters." in empty.text


def test_bad_dates_name_the_field(admin_client_, org):
    make_entry(org)
    response = admin_client_.get(URL, {"since": "2026-13-40"})
    assert response.status_code == 400
    assert "since" in response.context["filters"].errors
    reversed_range = admin_client_.get(URL, {"since": "2026-03-05", "until": "2026-03-01"})
    assert reversed_range.status_code == 400
    assert "until" in reversed_range.context["filters"].errors
    assert "The end date is before the start date." in reversed_range.text


def test_fifty_entries_a_page_and_links_keep_the_filters(admin_client_, org):
    for i in range(51):
        make_entry(org, action="member.invited", at=_day(3, 1) + datetime.timedelta(minutes=i))
    first = admin_client_.get(URL, {"action": "member"})
    assert len(first.context["page"]) == 50
    assert 'href="?action=member&amp;page=2"' in first.text
    second = admin_client_.get(URL, {"action": "member", "page": 2})
    assert len(second.context["page"]) == 1
    assert second.context["page"][0].created_at == _day(3, 1)  # the oldest comes last
    assert admin_client_.get(URL, {"page": "nonsense"}).status_code == 200


def test_recorded_text_is_escaped_and_the_nav_links_the_log(admin_client_, viewer_client, org):
    make_entry(org, target_label="<script>alert(1)</script>", data={"name": "<b>x</b>"})
    page = admin_client_.get(URL).text
    assert "<script>alert(1)</script>" not in page and "<b>x</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert f'href="{URL}"' in page
    assert f'href="{URL}"' not in viewer_client.get("/o/acme/").text


def test_empty_log_says_what_will_appear(admin_client_, org):
    response = admin_client_.get(URL)
    assert response.status_code == 200
    assert "Nothing recorded yet" in response.text


def test_csv_export_holds_every_filtered_entry_and_defuses_formulas(admin_client_, org):
    org.time_zone = "UTC"
    org.save()
    for i in range(60):
        make_entry(org, action="member.invited", at=_day(3, 1) + datetime.timedelta(minutes=i))
    make_entry(org, action="api_key.created", target_label='=HYPERLINK("http://evil")',
               actor_label="@admin", data={"name": "+1 key", "note": "-2"},
               at=_day(3, 2))  # fmt: skip
    response = admin_client_.get(URL, {"format": "csv", "action": "api_key"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert (
        "attachment" in response["Content-Disposition"]
        and "acme" in response["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["Time", "Actor", "Action"]
    assert len(rows) == 2
    time, actor, action, _type, _id, target, ip, summary, data = rows[1]
    assert time == "2026-03-02T12:00:00+00:00"
    assert actor == "'@admin" and target == '\'=HYPERLINK("http://evil")'
    assert summary.startswith("name: +1 key")  # not first in the cell: harmless
    assert ip == "203.0.113.5" and action == "api_key.created"
    assert '"note": "-2"' in data
    everything = admin_client_.get(URL, {"format": "csv"})
    assert len(list(csv.reader(io.StringIO(b"".join(everything.streaming_content).decode())))) == 62


def test_the_page_query_count_does_not_grow_with_entries(
    admin_client_, org, django_assert_max_num_queries
):
    for i in range(30):
        make_entry(org, at=_day(3, 1) + datetime.timedelta(minutes=i))
    with django_assert_max_num_queries(6):
        assert admin_client_.get(URL).status_code == 200
