"""The embedded run, for real: `python -m ibt_companion.launcher` with no DATABASE_URL and no
REDIS_URL migrates SQLite, seeds the demo, serves the log-in page, lets the demo patient log
in, sends the first due reminder through beat, the worker and the file-based e-mail backend,
and stops the web server, the worker and beat cleanly on Ctrl-C. With DEBUG off: a wrong
address gets the app's own 404 page (not Django's debug page listing every URL), the API its
JSON, and /healthz before beat's first tick logs no ERROR.

No Django model is imported here: the launcher is a separate process with its own database.
"""

import email
import email.policy
import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 20
# Beat runs the reminder tick every 60 s, the first one 60 s after it starts.
MAIL_TIMEOUT_SECONDS = 120
PATIENT_EMAIL = "pat@riverside.example"
PATIENT_PASSWORD = "demo-patient-2026"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until_ready(launcher: subprocess.Popen, log: Path, login_url: str) -> None:
    """Wait for the login page to answer and for the launcher's banner with the log-ins."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if launcher.poll() is not None:
            raise AssertionError(f"launcher exited early with {launcher.returncode}:\n{log.read_text()}")
        if PATIENT_EMAIL in log.read_text():
            try:
                with urllib.request.urlopen(login_url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.5)
    raise AssertionError(f"not ready within {START_TIMEOUT_SECONDS} s:\n{log.read_text()}")


def log_in_as_patient(base_url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    login_url = f"{base_url}/accounts/login/"
    with opener.open(login_url, timeout=10) as response:
        form = response.read().decode()
    match = re.search(r'name="csrfmiddlewaretoken"\s+value="([^"]+)"', form) or re.search(
        r'value="([^"]+)"\s+name="csrfmiddlewaretoken"', form
    )
    assert match, f"no csrfmiddlewaretoken in the log-in form:\n{form[:2000]}"
    body = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": match.group(1), "username": PATIENT_EMAIL, "password": PATIENT_PASSWORD}
    ).encode()
    request = urllib.request.Request(login_url, data=body, headers={"Referer": login_url})
    with opener.open(request, timeout=10) as response:  # follows the redirect to the home page
        return response.status, response.read().decode()


def fetch(url: str) -> tuple[int, str, str]:
    """Status, content type and body, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def check_errors_and_static(base_url: str, log: Path) -> None:
    status, kind, page = fetch(f"{base_url}/no-such-page/")
    assert status == 404 and kind.startswith("text/html"), (status, kind)
    assert "We could not find that page" in page, page[:2000]
    assert "URLconf" not in page and "api/v1/" not in page  # Django's debug 404 lists every URL
    status, kind, body = fetch(f"{base_url}/api/v1/no-such-thing/")
    assert (status, kind) == (404, "application/json"), (status, kind, body[:500])
    assert json.loads(body) == {"errors": {"detail": ["Not found."]}}
    # With DEBUG off, WhiteNoise serves the collected (hashed) stylesheet the pages name.
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert stylesheet and stylesheet.group(1) != "/static/css/site.css", page[:1000]
    status, kind, _ = fetch(base_url + stylesheet.group(1))
    assert status == 200 and kind.startswith("text/css"), (status, kind)

    # A monitor polling /healthz before beat's first tick (a minute after beat starts): not
    # healthy yet, and not an ERROR in the log either.
    before = len(log.read_text())
    status, _, body = fetch(f"{base_url}/healthz")
    assert status == 503 and json.loads(body)["scheduler"]["starting"] is True, body
    time.sleep(1)  # the web server writes its log line
    new = log.read_text()[before:]
    assert "Service Unavailable: /healthz (the scheduler has not ticked yet" in new, new
    assert "ERROR" not in new, new


def sent_messages(mail_dir: Path) -> list[email.message.EmailMessage]:
    """The messages the file-based e-mail backend wrote: one file per connection, each message
    followed by a line of 79 dashes."""
    messages = []
    for path in sorted(mail_dir.glob("*.log")):
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if chunk.strip():
                messages.append(email.message_from_bytes(chunk.lstrip(), policy=email.policy.default))
    return messages


def wait_for_sent_mail(launcher: subprocess.Popen, log: Path, mail_dir: Path) -> list[email.message.EmailMessage]:
    """Pat's refill is due within a week, so the first tick finds the 7-day step due (the
    earlier one is superseded) and the worker sends it."""
    deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if launcher.poll() is not None:
            raise AssertionError(f"launcher exited early with {launcher.returncode}:\n{log.read_text()}")
        if mail_dir.is_dir():
            messages = [m for m in sent_messages(mail_dir) if m["Subject"]]
            if messages:
                return messages
        time.sleep(1)
    raise AssertionError(f"no reminder e-mail in {mail_dir} within {MAIL_TIMEOUT_SECONDS} s:\n{log.read_text()}")


def test_launcher_runs_everything_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="ibt_companion.settings.local",
        IBT_VAR_DIR=str(tmp_path / "var"),
        HOST="127.0.0.1",
        PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "launcher.log"
    with log.open("w") as output:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "ibt_companion.launcher"],
            cwd=BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pgid = launcher.pid  # a new session: its process group is the launcher's pid
    try:
        wait_until_ready(launcher, log, f"{base_url}/accounts/login/")
        output_text = log.read_text()
        assert re.search(r"patient\s+pat@riverside\.example\s+demo-patient-2026", output_text), output_text
        assert base_url in output_text
        check_errors_and_static(base_url, log)

        status, home = log_in_as_patient(base_url)
        assert status == 200
        assert "Pat Rivera" in home or "Log out" in home, home[:2000]

        messages = wait_for_sent_mail(launcher, log, tmp_path / "var" / "sent-mail")
        reminder = next((m for m in messages if m["To"] == PATIENT_EMAIL), messages[0])
        assert reminder["Subject"].startswith("Pump refill"), reminder["Subject"]
        assert reminder["Message-ID"].startswith("<delivery-")
        text = reminder.get_body(preferencelist=("plain",)).get_content()
        assert f"{base_url}/r/ack/" in text, text  # the acknowledgement link points at this server
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=10) as response:
                health = json.load(response)
        except urllib.error.HTTPError as error:  # 503 names the failing check; only ours matters here
            health = json.load(error)
        assert health["deliveries"]["ok"] is True, health

        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=STOP_TIMEOUT_SECONDS) == 0, log.read_text()
        deadline = time.monotonic() + 5
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not group_alive(pgid), "a child of the launcher is still running"
    finally:
        if group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
        launcher.wait(timeout=10)
