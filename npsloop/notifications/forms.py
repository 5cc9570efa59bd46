"""Dashboard forms: a channel (fields by type, from kinds.py) and a rule."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from npsloop.accounts.models import Organization
from npsloop.notifications.kinds import KINDS
from npsloop.notifications.models import Channel, Rule
from npsloop.responses.models import SavedFilter


class ChannelForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)

    def __init__(self, *args, kind: str, organization: Organization, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        spec = KINDS[kind]
        if spec.url_label:
            self.fields["url"] = forms.CharField(
                label=spec.url_label, help_text=spec.url_help, max_length=2000
            )
        for item in spec.fields:
            self.fields[f"config_{item.key}"] = forms.CharField(
                label=item.label, help_text=item.help, required=item.required, max_length=2000
            )
        if kind == "email":
            members = organization.memberships.select_related("user").order_by("user__email")
            self.fields["members"] = forms.TypedMultipleChoiceField(
                label=_("Members"),
                required=False,
                coerce=int,
                choices=[(m.user_id, m.user.email) for m in members],
                widget=forms.CheckboxSelectMultiple,
            )
        if spec.secret_label:
            self.fields["secret"] = forms.CharField(
                label=spec.secret_label,
                widget=forms.PasswordInput(render_value=False),
                help_text=_("Stored, never shown again."),
                max_length=2000,
            )

    def config(self) -> dict:
        prefix = "config_"
        return {k[len(prefix) :]: v for k, v in self.cleaned_data.items() if k.startswith(prefix)}


class RuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    saved_filter = forms.ModelChoiceField(
        label=_("Saved filter"),
        queryset=SavedFilter.objects.none(),
        required=False,
        empty_label=_("All responses"),
    )
    trigger = forms.ChoiceField(label=_("When"), choices=Rule.Trigger.choices)
    channels = forms.ModelMultipleChoiceField(
        label=_("Channels"), queryset=Channel.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, organization: Organization, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only this organization's filters and channels can be chosen.
        self.fields["saved_filter"].queryset = SavedFilter.objects.filter(organization=organization)
        self.fields["channels"].queryset = Channel.objects.filter(
            organization=organization
        ).exclude(kind=Channel.Kind.ZAPIER)
