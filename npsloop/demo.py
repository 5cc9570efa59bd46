"""A demo organization with nine months of contacts, invitations and responses.

`npsloop demo` calls `load_demo` so a newcomer signs in to a living dashboard instead
of an empty one. Everything is drawn from one seeded `random.Random`, so the same seed
gives the same people, scores and comments (only the secret keys are random).
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone

from npsloop.accounts.models import Organization
from npsloop.accounts.services import create_organization
from npsloop.contacts.models import Contact
from npsloop.insights.nps import category, summarize
from npsloop.invitations.emails import message_id
from npsloop.invitations.models import Invitation, InvitationEvent
from npsloop.responses.models import Response
from npsloop.surveys.models import Survey
from npsloop.surveys.services import create_survey
from npsloop.web.secrets import random_token

ORGANIZATION_NAME = "Acme Cloud (demo)"
COMPANY_NAME = "Acme Cloud"

WINDOW = dt.timedelta(days=270)  # nine months of history
BATCH = 500
State = Invitation.State
T = TypeVar("T")

# --- People -----------------------------------------------------------------------------


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "female": _names(
            "Emma Olivia Sophia Charlotte Amelia Grace Hannah Chloe Emily Lucy Jessica Sarah "
            "Rachel Megan Laura Ava Isabella Mia Natalie Rebecca Abigail Zoe"
        ),
        "male": _names(
            "James Oliver William Jack Harry Thomas Daniel Michael David Ryan Matthew Benjamin "
            "Samuel Ethan Noah Lucas Andrew Christopher Joseph George Nathan Owen"
        ),
    },
    "de": {
        "female": _names(
            "Anna Lena Marie Sophie Laura Julia Lea Hannah Katharina Sarah Johanna Clara "
            "Franziska Sabine Petra Claudia Jana Miriam Charlotte Greta Jülide Ursula"
        ),
        "male": _names(
            "Lukas Jonas Felix Maximilian Paul Leon Tobias Florian Sebastian Stefan Michael "
            "Andreas Thomas Jan Moritz Niklas Matthias Johannes Markus Philipp Jürgen Björn"
        ),
    },
}
LAST_NAMES: dict[str, tuple[str, ...]] = {
    "en": _names(
        "Smith Johnson Williams Brown Jones Taylor Davies Wilson Evans Thomas Roberts Walker "
        "Wright Thompson White Hughes Edwards Green Hall Wood Harris Clarke Jackson Turner "
        "Miller Anderson Martin Cooper Ward Morgan O'Brien Patel"
    ),
    "de": _names(
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer "
        "Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger "
        "Hartmann Lange Werner Krause Lehmann Huber Gruber Brunner Steiner Keller Yılmaz"
    ),
}
# Reserved example domains only (RFC 2606): demo invitations still scheduled will really
# be sent by the worker when they fall due.
DOMAINS: dict[str, tuple[str, ...]] = {
    "en": ("example.com", "example.org", "example.net"),
    "de": ("example.com", "example.org", "example.net", "beispiel.example"),
}
COUNTRIES: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "en": (("US", "GB", "DE", "CH"), (50, 40, 5, 5)),
    "de": (("DE", "AT", "CH"), (70, 18, 12)),
}
PLANS = (("free", "pro", "enterprise"), (55, 35, 10))

# --- Comments, by language and by the category of the score they go with -----------------

COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "promoter": (
            "Setup took ten minutes and the deploys just work. Haven't thought about servers "
            "since.",
            "Support answered within the hour on a Sunday. That alone is worth the price.",
            "The dashboard is clean and fast, and my whole team picked it up without training.",
            "Rock-solid uptime for us over the past year. Great product.",
            "Love the CLI. Everything I need is one command away.",
            "Migrating from our old host was painless, your docs are excellent.",
            "Preview environments for every pull request changed how we ship. Thank you!",
            "Simple pricing, no surprises on the invoice. I recommend you to every founder I meet.",
            "The autoscaling saved us during a launch spike last month.",
            "Great API, great docs, and the team actually listens to feedback.",
            "Logs and metrics in one place, finally. Debugging got so much easier.",
            "Everything just works. Keep it up!",
            "The new automatic database backups are exactly what we needed.",
        ),
        "passive": (
            "Good product overall, but the price jumps a lot between Pro and Enterprise.",
            "Works well. I'd love more regions in Asia.",
            "Solid, but build times have gotten slower lately.",
            "Mostly happy. The docs could use more examples for Python.",
            "Nice dashboard, but I miss a dark mode and keyboard shortcuts.",
            "Does what it says. Support is friendly but not especially fast.",
            "Great for small projects; not sure yet how it holds up as our team grows.",
            "The product is good, the billing page is confusing.",
            "Happy with the hosting, but role-based permissions are too coarse.",
            "Reliable, though the occasional cold start still bites us.",
            "Would be a 10 with a proper Terraform provider.",
            "Onboarding was smooth, but our custom domain took a few tries.",
        ),
        "detractor": (
            "We had two outages in one week and the status page said everything was fine.",
            "Too expensive for what it is once you leave the free plan.",
            "Support took four days to answer a simple billing question.",
            "Deploys fail at random with error messages that don't help.",
            "The free plan limits changed without notice and broke our staging setup.",
            "Hard to find anything in the docs. I ended up asking on Stack Overflow.",
            "Logs disappear after 24 hours, which makes debugging nearly impossible.",
            "I was charged twice this month and I'm still waiting for the refund.",
            "Performance in Europe is noticeably worse than in the US.",
            "The dashboard is slow and times out on our larger projects.",
            "Missing basic features like scheduled jobs. We're looking at alternatives.",
            "The move to the new plans was a mess, nobody told us what would change.",
            "Too many emails, and the product hasn't improved for us this year.",
        ),
    },
    "de": {
        "promoter": (
            "Die Einrichtung hat zehn Minuten gedauert, seitdem laufen die Deployments einfach.",
            "Der Support hat am Sonntag innerhalb einer Stunde geantwortet. Top!",
            "Übersichtliches Dashboard, das ganze Team kam ohne Schulung zurecht.",
            "Seit einem Jahr keine einzige Störung bei uns. Sehr zuverlässig.",
            "Hosting in Frankfurt war für uns wegen der DSGVO entscheidend, und es läuft "
            "hervorragend.",
            "Der Umzug von unserem alten Anbieter ging völlig problemlos, die Doku ist sehr gut.",
            "Vorschau-Umgebungen für jeden Pull Request haben unsere Arbeit verändert. Danke!",
            "Faire, transparente Preise ohne Überraschungen auf der Rechnung.",
            "Das automatische Skalieren hat uns beim Produktlaunch gerettet.",
            "Tolle API, gute Dokumentation und ein Team, das auf Feedback hört.",
            "Logs und Metriken an einem Ort, die Fehlersuche ist viel einfacher geworden.",
            "Alles funktioniert einfach. Weiter so!",
            "Endlich Rechnungen mit ausgewiesener Umsatzsteuer, unsere Buchhaltung ist begeistert.",
        ),
        "passive": (
            "Gutes Produkt, aber der Sprung von Pro zu Enterprise ist preislich zu groß.",
            "Funktioniert gut. Die Oberfläche könnte vollständig auf Deutsch sein.",
            "Solide, aber die Build-Zeiten sind zuletzt länger geworden.",
            "Meistens zufrieden. In der Doku fehlen Beispiele für PHP.",
            "Schönes Dashboard, aber mir fehlen Tastenkürzel und ein dunkles Design.",
            "Macht, was es soll. Der Support ist freundlich, aber nicht besonders schnell.",
            "Für kleine Projekte super, ob es mit unserem Team mitwächst, wird sich zeigen.",
            "Das Produkt ist gut, die Abrechnungsseite ist verwirrend.",
            "Zufrieden mit dem Hosting, aber die Rechteverwaltung ist zu grob.",
            "Zuverlässig, nur die gelegentlichen Kaltstarts nerven.",
            "Mit einem ordentlichen Terraform-Provider wäre es eine 10.",
            "Das Onboarding war gut, die eigene Domain hat aber mehrere Anläufe gebraucht.",
        ),
        "detractor": (
            "Zwei Ausfälle in einer Woche, und die Statusseite zeigte alles grün.",
            "Außerhalb des kostenlosen Tarifs zu teuer für das, was geboten wird.",
            "Der Support hat vier Tage für eine einfache Rechnungsfrage gebraucht.",
            "Deployments schlagen sporadisch fehl, die Fehlermeldungen helfen nicht weiter.",
            "Die Limits im kostenlosen Tarif wurden ohne Ankündigung geändert.",
            "In der Dokumentation findet man kaum etwas, und vieles gibt es nur auf Englisch.",
            "Logs sind nach 24 Stunden weg, so ist Fehlersuche kaum möglich.",
            "Mir wurde diesen Monat doppelt abgebucht, die Erstattung fehlt immer noch.",
            "Kein Auftragsverarbeitungsvertrag zum Download, für uns ein echtes Problem.",
            "Das Dashboard ist langsam und bricht bei größeren Projekten ab.",
            "Grundlegende Funktionen wie geplante Jobs fehlen. Wir schauen uns nach "
            "Alternativen um.",
            "Die Umstellung auf die neuen Tarife war chaotisch, niemand hat uns informiert.",
            "Zu viele E-Mails, und das Produkt ist für uns dieses Jahr nicht besser geworden.",
        ),
    },
}
# Unhappy customers write more often than passives.
COMMENT_CHANCE = {"promoter": 0.45, "passive": 0.4, "detractor": 0.7}


@dataclass
class _Deck:
    """Draws without repeats until the pile is used up, so comments rarely look copied."""

    rng: random.Random
    items: Sequence[str]
    pile: list[str] = field(default_factory=list)

    def draw(self) -> str:
        if not self.pile:
            self.pile = list(self.items)
            self.rng.shuffle(self.pile)
        return self.pile.pop()


@dataclass
class _Planned:
    """An invitation with the times that auto_now_add would otherwise overwrite."""

    invitation: Invitation
    created_at: dt.datetime
    events: list[tuple[str, dt.datetime, str]] = field(default_factory=list)
    response: Response | None = None


def load_demo(*, email: str, password: str, contacts: int = 400, seed: int = 7) -> str:
    """Create the demo organization unless its owner exists; returns a summary to print."""
    if contacts < 0:
        raise ValueError("contacts must be 0 or more")
    User = get_user_model()
    login = User.objects.normalize_email(email).lower()
    base = settings.BASE_URL
    with transaction.atomic():
        if User.objects.filter(Q(username=login) | Q(email__iexact=login)).exists():
            return (
                f"The demo is already loaded: a user {login} exists, so nothing was changed.\n"
                f"Sign in at {base}/login/ as {login} with the password it was loaded with."
            )
        return _load(login=login, password=password, contacts=contacts, seed=seed)


def _load(*, login: str, password: str, contacts: int, seed: int) -> str:
    rng = random.Random(seed)
    now = timezone.now()
    created = create_organization(name=ORGANIZATION_NAME, email=login, password=password)
    org = created.organization
    customer, _key = create_survey(
        organization=org,
        name="Customer NPS",
        company_name=COMPANY_NAME,
        sender_name=f"{COMPANY_NAME} Team",
        reply_to="feedback@example.com",
        min_delay_days=3,
        max_delay_days=14,
        min_interval_weeks=26,
    )
    onboarding, _key = create_survey(
        organization=org,
        name="Onboarding NPS",
        company_name=COMPANY_NAME,
        sender_name=f"{COMPANY_NAME} Team",
        default_language="de",
        min_delay_days=0,
        max_delay_days=0,
    )

    people = _contacts(rng, org, contacts, now)
    plans = _invitations(rng, people, customer, onboarding, now)
    _responses(rng, plans, now)
    unsubscribed, bounced = _mishaps(rng, plans, contacts, now)

    _bulk_create_at(Contact, people, "created_at", [c.signed_up_at for c in people])
    invitations = [p.invitation for p in plans]
    Invitation.objects.bulk_create(invitations, batch_size=BATCH)
    for plan in plans:
        plan.invitation.created_at = plan.created_at
        if plan.invitation.sent_at:
            plan.invitation.message_id = message_id(plan.invitation)
    Invitation.objects.bulk_update(invitations, ["created_at", "message_id"], batch_size=BATCH)
    responses = [p.response for p in plans if p.response]
    Response.objects.bulk_create(responses, batch_size=BATCH)
    events, times = [], []
    for plan in plans:
        for kind, at, detail in plan.events:
            events.append(InvitationEvent(invitation=plan.invitation, kind=kind, detail=detail))
            times.append(at)
    _bulk_create_at(InvitationEvent, events, "at", times)

    summary = summarize(r.score for r in responses)
    scheduled = sum(1 for i in invitations if i.state == State.SCHEDULED)
    commented = sum(1 for r in responses if r.comment)
    nps = "—" if summary.nps_rounded is None else f"{summary.nps_rounded:+d}"
    return "\n".join(
        [
            f"Loaded the demo organization {ORGANIZATION_NAME!r}:",
            f"  {len(people)} contacts ({unsubscribed} unsubscribed, {bounced} bounced)",
            f"  {len(invitations)} invitations ({scheduled} scheduled)",
            f"  {len(responses)} responses ({commented} with a comment), NPS {nps}",
            f"Sign in at {settings.BASE_URL}/login/ as {login} / {password}",
        ]
    )


def _bulk_create_at(
    model: type[Model], objs: list[Model], name: str, times: list[dt.datetime | None]
) -> None:
    """bulk_create, then backdate an auto_now_add field, which insert always sets to now."""
    model.objects.bulk_create(objs, batch_size=BATCH)
    for obj, at in zip(objs, times, strict=True):
        setattr(obj, name, at)
    model.objects.bulk_update(objs, [name], batch_size=BATCH)


def _pick(rng: random.Random, table: tuple[Sequence[T], Sequence[int]]) -> T:
    values, weights = table
    return rng.choices(values, weights=weights)[0]


def _ascii(text: str) -> str:
    text = text.lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    text = text.replace("ß", "ss").replace("ı", "i").replace("'", "")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _contacts(rng: random.Random, org: Organization, count: int, now: dt.datetime) -> list[Contact]:
    # A few brand-new sign-ups, so some Customer NPS invitations are still ahead (3 days).
    fresh = min(count, max(3, round(count * 0.01)))
    taken: set[str] = set()
    people = []
    for index in range(count):
        language = "en" if rng.random() < 0.6 else "de"
        gender = "female" if rng.random() < 0.5 else "male"
        first = rng.choice(FIRST_NAMES[language][gender])
        last = rng.choice(LAST_NAMES[language])
        if rng.random() < 0.1:
            gender = ""  # not every source knows it
        if index < fresh:
            age = dt.timedelta(hours=rng.uniform(2, 60))
        else:
            # A growing company: sign-ups per day double over the nine months.
            # (inverse of the CDF of a density rising linearly from 1 to 2).
            age = WINDOW * (2 - (1 + 3 * rng.random()) ** 0.5)
        local = f"{_ascii(first)}.{_ascii(last)}"
        if rng.random() < 0.2:
            local = f"{_ascii(first)[0]}{_ascii(last)}"
        domain = rng.choice(DOMAINS[language])
        address, n = f"{local}@{domain}", 1
        while address in taken:
            n += 1
            address = f"{local}{n}@{domain}"
        taken.add(address)
        people.append(
            Contact(
                organization=org,
                email=address,
                external_id=f"usr_{10000 + index * 7 + rng.randrange(7)}",
                first_name=first,
                last_name=last,
                gender=gender,
                language=language,
                signed_up_at=now - age,
                properties={"plan": _pick(rng, PLANS), "country": _pick(rng, COUNTRIES[language])},
            )
        )
    # Oldest first, so ids grow with time as they would in real life.
    people.sort(key=lambda c: c.signed_up_at)
    return people


def _invitations(
    rng: random.Random,
    people: list[Contact],
    customer: Survey,
    onboarding: Survey,
    now: dt.datetime,
) -> list[_Planned]:
    fresh_after = now - dt.timedelta(hours=60)
    plans = []
    for contact in people:
        signed_up = contact.signed_up_at
        fresh = signed_up >= fresh_after
        if not fresh and rng.random() < 0.12:
            continue  # imported, never surveyed
        if fresh or rng.random() < 0.65:
            # The send rules: creation + min_delay_days.
            survey, created_at = customer, signed_up
            send_at = signed_up + dt.timedelta(days=customer.min_delay_days)
        else:
            # Delay 0: sent when an identify call arrives, some time after signing up.
            survey = onboarding
            send_at = created_at = signed_up + dt.timedelta(hours=rng.uniform(0.5, 24 * 7))
        invitation = Invitation(
            organization_id=survey.organization_id,
            survey=survey,
            contact=contact,
            key=random_token(18),
            source=Invitation.Source.DEMO,
            language=contact.language,
            send_at=send_at,
        )
        plan = _Planned(invitation=invitation, created_at=created_at)
        plan.events.append(("scheduled", created_at, send_at.isoformat(timespec="seconds")))
        if send_at <= now:
            invitation.state = State.SENT
            invitation.attempts = 1
            invitation.claimed_at = send_at + dt.timedelta(seconds=rng.uniform(0.2, 3))
            invitation.sent_at = invitation.claimed_at + dt.timedelta(seconds=rng.uniform(0.5, 4))
            plan.events.append(("sent", invitation.sent_at, contact.email))
        plans.append(plan)
    return plans


def _score(rng: random.Random, progress: float, plan: str) -> int:
    """A score whose NPS climbs from about +20 to +40 over the nine months."""
    promoter = 0.45 + 0.14 * progress
    detractor = 0.23 - 0.08 * progress
    # Paying customers are a little happier than free ones.
    if plan == "free":
        promoter, detractor = promoter - 0.04, detractor + 0.03
    elif plan == "enterprise":
        promoter, detractor = promoter + 0.08, detractor - 0.05
    draw = rng.random()
    if draw < promoter:
        return rng.choices((9, 10), weights=(45, 55))[0]
    if draw < 1 - detractor:
        return rng.choices((7, 8), weights=(40, 60))[0]
    return rng.choices(range(7), weights=(2, 1, 2, 3, 4, 6, 8))[0]


def _responses(rng: random.Random, plans: list[_Planned], now: dt.datetime) -> None:
    decks = {
        (language, kind): _Deck(rng, texts)
        for language, kinds in COMMENTS.items()
        for kind, texts in kinds.items()
    }
    start = now - WINDOW
    for plan in plans:
        invitation = plan.invitation
        if invitation.sent_at is None or rng.random() >= 0.62:
            continue
        # Most people answer within hours; a few days later at most.
        delay = dt.timedelta(hours=min(rng.expovariate(1 / 9), 96) + rng.uniform(0.05, 0.3))
        answered_at = invitation.sent_at + delay
        if answered_at >= now:
            continue  # not yet: the email is still in their inbox
        progress = min(max((invitation.sent_at - start) / WINDOW, 0.0), 1.0)
        contact = invitation.contact
        score = _score(rng, progress, contact.properties["plan"])
        kind = category(score)
        comment, commented_at = "", None
        if rng.random() < COMMENT_CHANCE[kind]:
            comment = decks[(invitation.language, kind)].draw()
            commented_at = min(answered_at + dt.timedelta(seconds=rng.uniform(20, 400)), now)
        plan.response = Response(
            organization_id=invitation.organization_id,
            survey=invitation.survey,
            invitation=invitation,
            contact=contact,
            score=score,
            comment=comment,
            language=invitation.language,
            created_at=answered_at,
            commented_at=commented_at,
        )
        invitation.state = State.RESPONDED
        plan.events.append(("responded", answered_at, ""))


def _mishaps(
    rng: random.Random, plans: list[_Planned], count: int, now: dt.datetime
) -> tuple[int, int]:
    """Unsubscribes, bounces, one failure and one cancellation, so every state shows up.

    Returns how many contacts unsubscribed and bounced.
    """
    unanswered = [p for p in plans if p.invitation.state == State.SENT]
    rng.shuffle(unanswered)
    n_bounced = min(len(unanswered), max(1, round(count * 0.012)))
    bounced, unanswered = unanswered[:n_bounced], unanswered[n_bounced:]
    for plan in bounced:
        invitation, contact = plan.invitation, plan.invitation.contact
        detail = f"550 5.1.1 <{contact.email}>: Recipient address rejected: User unknown"
        contact.bounced_at = invitation.sent_at
        invitation.state, invitation.sent_at, invitation.last_error = State.BOUNCED, None, detail
        plan.events[-1] = ("bounced", contact.bounced_at, detail)

    n_unsubscribed = min(len(unanswered), max(2, round(count * 0.025)))
    unsubscribed, unanswered = unanswered[:n_unsubscribed], unanswered[n_unsubscribed:]
    for plan in unsubscribed:
        invitation = plan.invitation
        at = min(invitation.sent_at + dt.timedelta(hours=rng.uniform(0.1, 30)), now)
        invitation.contact.unsubscribed_at = at
        plan.events.append(("unsubscribed", at, ""))

    if unanswered:
        plan = unanswered[0]
        invitation = plan.invitation
        detail = "554 5.7.1 Message rejected: the receiving server's spam filter refused it"
        invitation.state, invitation.last_error = State.FAILED, detail
        plan.events[-1] = ("failed", invitation.sent_at, detail)
        invitation.sent_at = None

    waiting = [p for p in plans if p.invitation.state == State.SCHEDULED]
    if len(waiting) > 1:
        plan = waiting[0]
        at = plan.created_at + (now - plan.created_at) / 2
        plan.invitation.state = State.CANCELLED
        plan.events.append(("cancelled", at, "cancelled by a team member"))
    return len(unsubscribed), len(bounced)
