"""The texts a new survey starts with, per language."""

from __future__ import annotations

DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "email_subject": "A quick question about {company}",
        "intro": "We would love to hear what you think. It takes one click.",
        "question": "How likely are you to recommend {company} to a friend or colleague?",
        "follow_up_question": "What is the most important reason for your score?",
        "thank_you_text": "Thank you for your feedback!",
    },
    "de": {
        "email_subject": "Eine kurze Frage zu {company}",
        "intro": "Wir würden gern wissen, was Sie denken. Es dauert nur einen Klick.",
        "question": (
            "Wie wahrscheinlich ist es, dass Sie {company} einem Freund oder Kollegen "
            "weiterempfehlen?"
        ),
        "follow_up_question": "Was ist der wichtigste Grund für Ihre Bewertung?",
        "thank_you_text": "Vielen Dank für Ihr Feedback!",
    },
}


def fill(text: str, *, company: str) -> str:
    # A plain replace, not str.format: survey texts are user input.
    return text.replace("{company}", company)
