"""Run everything on one machine: `python -m ibt_companion.launcher`.

It migrates the database, collects static files and seeds the demo clinic, then starts the
web server (gunicorn), a Celery worker and Celery beat, and keeps them running until Ctrl-C
or SIGTERM. With no DATABASE_URL the settings use SQLite in the var dir, and with no
REDIS_URL kombu's filesystem broker, so nothing but this repository is needed.

Environment: HOST and PORT (default 127.0.0.1:8000) say where the web server listens;
IBT_VAR_DIR moves the var dir (database, broker folders, static files, sent mail).
Only the standard library is used here; the children are this Python's own executables.
"""

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Celery's worker with the filesystem broker takes 4 to 9 s for a warm shutdown.
STOP_GRACE_SECONDS = 15
# Give the worker and beat time to print their own start-up lines, so the banner comes last.
BANNER_DELAY_SECONDS = 3


def say(message: str = "") -> None:
    print(message, flush=True)


def manage(*args: str, capture: bool = False) -> str:
    """Run a manage.py command to completion; leave the launcher if it fails."""
    command = [sys.executable, str(BASE_DIR / "manage.py"), *args]
    result = subprocess.run(command, cwd=BASE_DIR, text=True, stdout=subprocess.PIPE if capture else None)
    if result.returncode != 0:
        if capture:
            say(result.stdout)
        sys.exit(f"launcher: manage.py {' '.join(args)} failed with exit code {result.returncode}")
    return result.stdout or ""


def child_commands(host: str, port: int, beat_schedule: str) -> dict[str, list[str]]:
    return {
        "web": [
            str(BIN / "gunicorn"), "ibt_companion.wsgi:application",
            "--bind", f"{host}:{port}", "--workers", "2", "--graceful-timeout", "5", "--no-control-socket",
        ],
        "worker": [str(BIN / "celery"), "-A", "ibt_companion", "worker", "--loglevel=INFO", "--concurrency=2"],
        "beat": [str(BIN / "celery"), "-A", "ibt_companion", "beat", "--loglevel=INFO", "--schedule", beat_schedule],
    }  # fmt: skip


def reachable_host(host: str) -> str:
    """Where this machine reaches a server bound to host (0.0.0.0 means every interface)."""
    try:
        return "127.0.0.1" if ipaddress.ip_address(host).is_unspecified else host
    except ValueError:  # a name such as localhost
        return host


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_all(children: dict[str, subprocess.Popen]) -> None:
    """SIGTERM to each child still running, up to STOP_GRACE_SECONDS in all, then SIGKILL."""
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, child in children.items():
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"launcher: {name} did not stop within {STOP_GRACE_SECONDS} s; killing it")
            child.kill()
            child.wait()


def banner(url: str, logins: str, var_dir: Path) -> str:
    rule = "=" * 72
    lines = [rule, f"IBT Companion is running at {url}", "", "Demo log-ins (role, e-mail, password):"]
    lines += [f"  {line}" for line in logins.splitlines() if line.strip()]
    lines += ["", f"Data: {var_dir}", "Press Ctrl-C to stop the web server, the worker and beat.", rule]
    return "\n".join(lines)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ibt_companion.settings.local")
    from django.conf import settings  # the settings module only; no apps are loaded here

    var_dir = Path(settings.VAR_DIR)  # loading the settings also reads an optional .env
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    local_host = reachable_host(host)
    url = f"http://{local_host}:{port}/"
    os.environ.setdefault("SITE_URL", url.rstrip("/"))  # links in e-mails point here
    os.environ.setdefault("PYTHONUNBUFFERED", "1")

    if answers(local_host, port):
        sys.exit(f"launcher: something already answers on {local_host}:{port}; set PORT to a free port")
    # The filesystem broker's folders (in, out, processed, control) live in the var dir.
    broker_folders = [Path(v) for k, v in settings.CELERY_BROKER_TRANSPORT_OPTIONS.items() if "folder" in k]
    for folder in (var_dir, var_dir / "broker", *broker_folders):
        folder.mkdir(parents=True, exist_ok=True)
    Path(settings.CELERY_BEAT_SCHEDULE_FILENAME).parent.mkdir(parents=True, exist_ok=True)

    say(f"launcher: settings {os.environ['DJANGO_SETTINGS_MODULE']}, var dir {var_dir}")
    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput", "--verbosity", "0")
    logins = manage("seed_demo", capture=True)

    stop_requested: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: stop_requested.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, frame: stop_requested.append(signum))

    children: dict[str, subprocess.Popen] = {}
    for name, command in child_commands(host, port, settings.CELERY_BEAT_SCHEDULE_FILENAME).items():
        say(f"launcher: starting {name}: {' '.join(command)}")
        children[name] = subprocess.Popen(command, cwd=BASE_DIR)

    started = time.monotonic()
    exit_code = 0
    announced = False
    while not stop_requested:
        dead = [(name, child.returncode) for name, child in children.items() if child.poll() is not None]
        if dead:
            name, code = dead[0]
            say(f"launcher: {name} exited unexpectedly with code {code}; stopping the others")
            exit_code = 1
            break
        if not announced and time.monotonic() - started > BANNER_DELAY_SECONDS and answers(local_host, port):
            say(banner(url, logins, var_dir))
            announced = True
        time.sleep(0.5)

    if stop_requested:
        say("launcher: stopping the web server, the worker and beat")
    stop_all(children)
    say("launcher: stopped" if exit_code == 0 else "launcher: stopped after a failure")
    return exit_code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before the children started
        sys.exit(130)
