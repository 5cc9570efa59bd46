from django.conf import settings


def organization(request) -> dict:
    org = getattr(request, "organization", None)
    return {"organization": org if org else None, "signup_open": settings.NPSLOOP_SIGNUP}
