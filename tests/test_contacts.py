from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from npsloop.contacts.models import Contact
from npsloop.contacts.services import import_csv, upsert_contact
from npsloop.invitations.models import Invitation

pytestmark = pytest.mark.django_db


def test_upsert_normalizes_and_keeps_known_values(org_a):
    contact, created = upsert_contact(
        organization=org_a.organization,
        email=" Anna@Example.COM ",
        first_name="Anna",
        gender="Frau",
        language="de_DE",
        signed_up_at="2024-05-17",
        properties={"plan": "pro"},
    )
    assert created and contact.email == "Anna@example.com"
    assert (contact.gender, contact.language) == ("female", "de")
    assert contact.signed_up_at.isoformat() == "2024-05-17T00:00:00+00:00"
    again, created = upsert_contact(
        organization=org_a.organization,
        email="anna@example.com",
        last_name="Schmidt",
        properties={"country": "DE"},
    )
    assert not created and again.pk == contact.pk
    assert (again.first_name, again.last_name) == ("Anna", "Schmidt")
    assert again.properties == {"plan": "pro", "country": "DE"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"email": ""}, "required"),
        ({"email": "no-at-sign"}, "not a valid email"),
        ({"email": "a@b.test", "signed_up_at": "yesterday"}, "not a valid date"),
        ({"email": "a@b.test", "signed_up_at": "2024-02-30"}, "not a valid date"),
    ],
)
def test_bad_input_is_a_clear_error(org_a, kwargs, message):
    with pytest.raises(ValidationError) as exc:
        upsert_contact(organization=org_a.organization, **kwargs)
    assert message in " ".join(exc.value.messages)
    assert not Contact.objects.exists()


def test_same_email_in_two_organizations_is_two_contacts(org_a, org_b):
    a, _ = upsert_contact(organization=org_a.organization, email="x@example.com")
    b, _ = upsert_contact(organization=org_b.organization, email="x@example.com")
    assert a.pk != b.pk


def test_csv_import_reports_bad_lines_and_keeps_the_rest(org_a):
    data = (
        b"email;first_name;gender;created_at;plan\n"
        b"ok@example.com;Ok;m;2024-01-02T10:00:00Z;pro\n"
        b"broken;Broken;;;\n"
        b"late@example.com;Late;;31.12.2024;free\n"
        b"third@example.com;Third;;;\n"
    )
    report = import_csv(organization=org_a.organization, data=data)
    assert (report.created, report.updated) == (2, 0)
    assert len(report.errors) == 2
    assert report.errors[0].startswith("Line 3:") and "broken" in report.errors[0]
    assert report.errors[1].startswith("Line 4:")
    ok = Contact.objects.get(email="ok@example.com")
    assert ok.properties == {"plan": "pro"} and ok.gender == "male"


@pytest.mark.parametrize(
    "data, error",
    [
        (b"\xff\xfe\x00garbage", "UTF-8"),
        (b"name,phone\nA,1\n", "email"),
        (b"", "email"),
    ],
)
def test_csv_files_that_cannot_be_read(org_a, data, error):
    report = import_csv(organization=org_a.organization, data=data)
    assert report.created == 0 and error in report.errors[0]


def test_upload_csv_and_invite_everyone(
    member_client, survey, outbox_mode, django_capture_on_commit_callbacks
):
    upload = SimpleUploadedFile(
        "contacts.csv",
        b"email,first_name,language\na@example.com,A,en\nb@example.com,B,de\n",
        content_type="text/csv",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(
            reverse("contact_import"), {"file": upload, "survey": survey.pk}
        )
    assert response.status_code == 200
    assert "2 contacts added" in response.content.decode()
    assert Invitation.objects.filter(state="sent", source="csv").count() == 2


def test_oversized_upload_is_refused(member_client):
    upload = SimpleUploadedFile("big.csv", b"email\n" + b"x" * (5 * 1024 * 1024 + 1))
    response = member_client.post(reverse("contact_import"), {"file": upload})
    assert "larger than 5 MB" in response.content.decode()
    assert not Contact.objects.exists()


def test_add_contact_by_hand_and_invite_later(member_client, survey):
    response = member_client.post(
        reverse("contact_create"),
        {"email": "new@example.com", "first_name": "<b>New</b>", "language": "en"},
    )
    contact = Contact.objects.get()
    assert response["Location"] == reverse("contact_detail", args=[contact.pk])
    member_client.post(
        reverse("contact_detail", args=[contact.pk]),
        {"survey": survey.pk, "send_at": "2099-01-01T10:00"},
    )
    invitation = Invitation.objects.get()
    assert invitation.state == "scheduled" and invitation.send_at.year == 2099
    page = member_client.get(reverse("contact_detail", args=[contact.pk])).content.decode()
    assert "&lt;b&gt;New&lt;/b&gt;" in page and "<b>New</b>" not in page
    assert "Scheduled" in page


def test_invite_in_the_past_or_to_another_orgs_survey_is_refused(
    member_client, org_a, org_b, survey
):
    from npsloop.surveys.services import create_survey

    contact, _ = upsert_contact(organization=org_a.organization, email="c@example.com")
    foreign, _ = create_survey(organization=org_b.organization, name="Theirs")
    url = reverse("contact_detail", args=[contact.pk])
    response = member_client.post(url, {"survey": foreign.pk})
    assert "survey" in response.context["form"].errors
    response = member_client.post(url, {"survey": survey.pk, "send_at": "2001-01-01T10:00"})
    assert "send_at" in response.context["form"].errors
    response = member_client.post(url, {"survey": survey.pk, "send_at": "not a date"})
    assert "send_at" in response.context["form"].errors
    assert not Invitation.objects.exists()


def test_invalid_email_in_the_form(member_client):
    response = member_client.post(reverse("contact_create"), {"email": "bad@"})
    assert "email" in response.context["form"].errors
