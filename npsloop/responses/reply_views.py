"""Reply to a customer, forward one feedback, forward all filtered feedback."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from npsloop.accounts.decorators import member_required
from npsloop.accounts.models import Organization
from npsloop.mail.errors import MailError
from npsloop.mail.models import OutboundEmail
from npsloop.responses import mailto, outbound
from npsloop.responses.filters import compile_filter, parse
from npsloop.responses.models import Response

User = get_user_model()

MAILTO_MAX_RESPONSES = 300


class ReplyForm(forms.Form):
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=outbound.MAX_SUBJECT_LENGTH)
    body = forms.CharField(
        label=gettext_lazy("Message"),
        max_length=outbound.MAX_BODY_LENGTH,
        widget=forms.Textarea(attrs={"rows": 16}),
    )

    def clean_subject(self) -> str:
        return outbound.clean_subject(self.cleaned_data["subject"])

    def clean_body(self) -> str:
        return outbound.clean_body(self.cleaned_data["body"])


class MemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        name = obj.get_full_name()
        return f"{name} <{obj.email}>" if name else obj.email


class ForwardForm(forms.Form):
    member = MemberChoiceField(
        label=gettext_lazy("A member of your organization"),
        queryset=User.objects.none(),
        required=False,
        empty_label="—",
    )
    email = forms.EmailField(
        label=gettext_lazy("or an email address"),
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def __init__(self, organization: Organization, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = User.objects.filter(
            memberships__organization=organization
        ).order_by("email")

    def clean_email(self) -> str:
        address = self.cleaned_data.get("email", "")
        return outbound.clean_address(address) if address else ""

    def clean(self):
        data = super().clean()
        member, email = data.get("member"), data.get("email")
        if self.errors:
            return data
        if member and email:
            raise ValidationError(_("Choose a member or enter an address, not both."))
        if not member and not email:
            raise ValidationError(_("Choose a member or enter an email address."))
        return data

    @property
    def recipient(self):
        return self.cleaned_data.get("member") or self.cleaned_data["email"]


def _response(request: HttpRequest, pk: int) -> Response:
    """The organization's response, with everything the links need: 404 for anyone else's."""
    return get_object_or_404(
        Response.objects.select_related(
            "organization", "survey", "contact", "invitation"
        ).prefetch_related("survey__texts"),
        organization=request.organization,
        pk=pk,
    )


def _sent_message(record: OutboundEmail, sent: str, kept: str) -> str:
    return kept if record.status == OutboundEmail.Status.OUTBOX else sent


def _mail_error(exc: MailError) -> str:
    return _("The email could not be sent: %(error)s") % {"error": exc}


def _no_reply_reason(response: Response) -> str:
    if response.contact is None:
        return _(
            "This feedback was given without an email address, so there is no one to reply "
            "to. You can still forward it to a colleague."
        )
    return _(
        "The contact of this feedback has no email address, so there is no one to reply to. "
        "You can still forward it to a colleague."
    )


@member_required
def reply(request: HttpRequest, pk: int) -> HttpResponse:
    response = _response(request, pk)
    language = mailto.reply_language(response)
    context: dict = {"response": response, "limit": mailto.MAILTO_LIMIT}
    if not mailto.can_reply(response):
        context["reason"] = _no_reply_reason(response)
        status = 400 if request.method == "POST" else 200
        return render(request, "responses/reply_form.html", context, status=status)
    initial = {
        "subject": mailto.reply_subject(response, language=language),
        "body": mailto.reply_body(response, language=language),
    }
    form = ReplyForm(request.POST if request.method == "POST" else None, initial=initial)
    if form.is_bound and form.is_valid():
        try:
            record = outbound.send_reply(
                response=response,
                member=request.user,
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except MailError as exc:
            form.add_error(None, _mail_error(exc))
        else:
            values = {"email": response.contact.email}
            messages.success(
                request,
                _sent_message(
                    record,
                    _("Reply sent to %(email)s.") % values,
                    _("Reply to %(email)s kept in the outbox (no SMTP server is set).") % values,
                ),
            )
            return redirect("inbox_detail", pk=response.pk)
    link = mailto.reply_mailto(response, language=language)
    context.update(form=form, link=link, long_link=len(link) > mailto.MAILTO_LIMIT)
    return render(request, "responses/reply_form.html", context)


@member_required
def forward(request: HttpRequest, pk: int) -> HttpResponse:
    response = _response(request, pk)
    form = ForwardForm(request.organization, request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            record = outbound.forward_one(response=response, member=request.user, to=form.recipient)
        except ValidationError as exc:
            form.add_error(None, exc)
        except MailError as exc:
            form.add_error(None, _mail_error(exc))
        else:
            values = {"email": record.to}
            messages.success(
                request,
                _sent_message(
                    record,
                    _("Feedback forwarded to %(email)s.") % values,
                    _("Feedback to %(email)s kept in the outbox (no SMTP server is set).") % values,
                ),
            )
            return redirect("inbox_detail", pk=response.pk)
    link = mailto.forward_mailto(response)
    # A very long comment would be cut by email apps: offer it over several emails then.
    links = [link] if len(link) <= mailto.MAILTO_LIMIT else mailto.forward_all_mailtos([response])
    return render(
        request,
        "responses/forward_form.html",
        {"response": response, "form": form, "links": links, "limit": mailto.MAILTO_LIMIT},
    )


@member_required
def forward_all(request: HttpRequest) -> HttpResponse:
    flt = parse(request.GET)
    query = flt.to_query()
    back = reverse("inbox") + (f"?{query}" if query else "")
    responses = (
        compile_filter(request.organization, flt)
        .order_by("-created_at", "-id")
        .select_related("organization", "survey", "contact")
    )
    form = ForwardForm(request.organization, request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        items = list(responses)
        try:
            record = outbound.forward_all(
                organization=request.organization,
                member=request.user,
                to=form.recipient,
                responses=items,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except MailError as exc:
            form.add_error(None, _mail_error(exc))
        else:
            count = len(items)
            values = {"count": count, "email": record.to}
            sent = ngettext(
                "%(count)d feedback forwarded to %(email)s in one email.",
                "%(count)d feedbacks forwarded to %(email)s in one email.",
                count,
            )
            kept = ngettext(
                "%(count)d feedback to %(email)s kept in the outbox (no SMTP server is set).",
                "%(count)d feedbacks to %(email)s kept in the outbox (no SMTP server is set).",
                count,
            )
            messages.success(request, _sent_message(record, sent % values, kept % values))
            return redirect(back)
    count = responses.count()
    # Hundreds of mailto links help nobody; past this, sending from npsloop is the way.
    links = mailto.forward_all_mailtos(list(responses)) if count <= MAILTO_MAX_RESPONSES else None
    return render(
        request,
        "responses/forward_all.html",
        {
            "form": form,
            "links": links,
            "count": count,
            "mailto_max": MAILTO_MAX_RESPONSES,
            "query": query,
            "back": back,
            "filter_errors": sorted(flt.errors.values()),
            "limit": mailto.MAILTO_LIMIT,
        },
    )
