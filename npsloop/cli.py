"""The `npsloop` command: one entry point for every process and admin task."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "npsloop.settings")
    import django

    django.setup()


def _migrate(verbosity: int = 1) -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)


def _sign_in_hint() -> str:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    base = settings.BASE_URL
    if get_user_model().objects.exists():
        return f"npsloop is ready: sign in at {base}/login/"
    return (
        "npsloop is ready, with an empty database.\n"
        f"  * Create your organization at {base}/signup/\n"
        "  * or load the demo organization (`make demo`, or `npsloop demo`, in another "
        "terminal) and sign in as demo@example.com / demo-password"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    # Links in emails point at this server unless BASE_URL says otherwise.
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
    os.environ.setdefault("BASE_URL", f"http://{shown}:{args.port}")
    _setup()
    from django.conf import settings

    _migrate(verbosity=0)
    print(_sign_in_hint(), flush=True)
    if settings.NPSLOOP_EMAIL["mode"] == "outbox":
        print("No EMAIL_URL: emails are kept in the dashboard's outbox.", flush=True)
    web = [
        sys.executable, "-m", "gunicorn", "npsloop.wsgi:application",
        "--bind", f"{args.host}:{args.port}",
        "--workers", str(args.web_workers),
        # Threads: a long streamed export runs in a request thread while the worker's
        # main loop keeps reporting to the arbiter; with sync workers gunicorn's timeout
        # (30 s) would kill any download that takes longer.
        "--worker-class", "gthread",
        "--threads", str(args.web_threads),
        "--no-control-socket",  # one per user by default: two servers would clash
        "--forwarded-allow-ips", os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
    ]  # fmt: skip
    children = [subprocess.Popen(web)]
    if not args.no_worker:
        children.append(subprocess.Popen([sys.executable, "-m", "npsloop.cli", "worker"]))
    return _supervise(children)


def _supervise(children: list[subprocess.Popen]) -> int:
    """Run until a child exits or we are told to stop; then stop the others."""
    stopping = False

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while not stopping:
        exited = [c for c in children if c.poll() is not None]
        if exited:
            code = exited[0].returncode or 1
            print(f"a process of npsloop exited ({code}); stopping the others", flush=True)
            break
        time.sleep(0.5)
    for child in children:
        if child.poll() is None:
            # huey finishes running jobs on SIGINT (SIGTERM abandons them); gunicorn
            # shuts down gracefully on SIGTERM.
            child.send_signal(signal.SIGINT if "worker" in child.args else signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0 if stopping else code


def cmd_worker(args: argparse.Namespace) -> int:
    _setup()
    from django.core.management import call_command

    from npsloop.ingest.services import reconcile as reconcile_events
    from npsloop.invitations.services import reconcile as reconcile_invitations
    from npsloop.segment_sync.services import reconcile as reconcile_syncs

    if args.migrate:
        _migrate(verbosity=0)
    # Pick up whatever a crashed worker or a flushed queue left behind.
    import datetime as dt

    now = dt.timedelta(0)
    print(
        f"worker: events {reconcile_events(lost_after=now)}, "
        f"invitations {reconcile_invitations(lost_after=now)}, "
        f"Segment syncs {reconcile_syncs(lost_after=now)}",
        flush=True,
    )
    # Links in emails and payloads need the URL resolver; built by the first job it
    # would cost that job 1-2 s of CPU while the first deliveries wait.
    from django.urls import reverse

    reverse("dashboard")
    call_command("run_huey", *(["--workers", str(args.workers)] if args.workers else []))
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    _setup()
    _migrate()
    return 0


def cmd_createorg(args: argparse.Namespace) -> int:
    _setup()
    from npsloop.accounts.models import ApiToken
    from npsloop.accounts.services import create_api_token, create_organization

    password = args.password or os.environ.get("NPSLOOP_PASSWORD") or secrets.token_urlsafe(12)
    created = create_organization(name=args.name, email=args.email, password=password)
    _token, key = create_api_token(
        organization=created.organization,
        user=created.user,
        name=args.token_name,
        scope=ApiToken.Scope.WRITE if args.write else ApiToken.Scope.READ,
    )
    print(f"organization: {created.organization.pk} {created.organization.name}")
    print(f"login: {created.user.email}")
    if not args.password and not os.environ.get("NPSLOOP_PASSWORD"):
        print(f"password: {password}")
    print(f"api token: {key}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    _setup()
    from npsloop.demo import load_demo

    _migrate(verbosity=0)
    result = load_demo(
        email=args.email, password=args.password, contacts=args.contacts, seed=args.seed
    )
    print(result)
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    _setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["npsloop manage", *args.rest])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="npsloop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then run the web server and the job worker")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))
    serve.add_argument("--web-threads", type=int, default=int(os.environ.get("WEB_THREADS", "4")))
    serve.add_argument("--no-worker", action="store_true", help="web server only")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run the job worker alone")
    worker.add_argument("--workers", type=int, default=None, help="threads (env WORKERS)")
    worker.add_argument("--migrate", action="store_true", help="apply migrations first")
    worker.set_defaults(func=cmd_worker)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    org = sub.add_parser("createorg", help="create an organization, its owner and an API token")
    org.add_argument("--name", required=True)
    org.add_argument("--email", required=True)
    org.add_argument("--password", help="else NPSLOOP_PASSWORD, else a random one is printed")
    org.add_argument("--token-name", default="default")
    org.add_argument("--write", action="store_true", help="a read-write token (default: read)")
    org.set_defaults(func=cmd_createorg)

    demo = sub.add_parser("demo", help="load a demo organization with months of responses")
    demo.add_argument("--email", default="demo@example.com")
    demo.add_argument("--password", default="demo-password")
    demo.add_argument("--contacts", type=int, default=400)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)

    manage = sub.add_parser("manage", help="any Django management command")
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    manage.set_defaults(func=cmd_manage)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
