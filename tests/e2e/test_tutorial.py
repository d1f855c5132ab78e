"""The tutorial, followed word for word: docs/tutorial.md is the script.

The test builds the wheel, makes a fresh ``django-admin startproject`` in a
temporary folder (in a virtualenv of its own, on the newest and on the oldest
supported Django) and applies the tutorial's code blocks in order, as the page
shows them: each block is marked with an HTML comment that says what to do with
it (``<!-- tutorial: run -->``, ``append settings.py``, ``write <path>``,
``shell``, ``serve``, ``skip: <why>``). A block without a mark fails the test,
so a changed tutorial changes the test. Then, against this repository's demo
provider (django-oauth-toolkit, served on a free port), Chromium signs in,
connects the Demo account and sees it connected.

Where the page leaves something to the reader, the test fills it in, and only
there: the wheel stands for ``sealed-integrations`` on the ``pip install``
line, the key ``generate_encryption_key`` printed for the ``…`` placeholder,
``createsuperuser`` runs with ``--noinput``, the free ports for ``127.0.0.1:8000``
and ``localhost:8001``, and the application registered at the demo (made in the
demo's database rather than in its registration form) for ``<client id>`` and
``<client secret>``.
"""

import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.browser import launch, sync_playwright_or_skip

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
PYENV_311 = sorted(Path.home().glob(".pyenv/versions/3.11*/bin/python"))
PASSWORD = "tutorial-horse-battery-7"
DEMO_USER = "demo-user"

_FENCE = re.compile(r"^```")
_MARK = re.compile(r"^<!-- tutorial: (\w+)(?:[: ]\s*(.*?))? -->$")
ACTIONS = {"run", "append", "write", "shell", "serve", "skip"}


@dataclass
class Block:
    action: str
    argument: str
    body: str
    line: int


def tutorial_blocks(text):
    """The code blocks of the page in order, each with the action its mark names.
    Raises ``ValueError`` for a block without a mark or with an unknown action."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if not _FENCE.match(lines[i]):
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and not _FENCE.match(lines[j]):
            j += 1
        mark = _MARK.match(lines[start - 1]) if start else None
        if mark is None or mark.group(1) not in ACTIONS:
            raise ValueError(f"tutorial.md:{start + 1}: a code block without a tutorial mark")
        blocks.append(
            Block(mark.group(1), (mark.group(2) or "").strip(), "\n".join(lines[i + 1 : j]), start)
        )
        i = j + 1
    return blocks


def test_every_code_block_of_the_tutorial_is_marked():
    blocks = tutorial_blocks(TUTORIAL.read_text())
    assert {b.action for b in blocks} >= {"run", "append", "write", "shell", "serve"}


def test_an_unmarked_block_is_refused():
    with pytest.raises(ValueError, match="tutorial.md:5"):
        tutorial_blocks("<!-- tutorial: run -->\n```sh\nls\n```\n```sh\nrm -rf /\n```\n")


# -- the end-to-end run -----------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port, process, what):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited: {process.stdout.read()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{what} did not listen on {port}")


def run(args, *, cwd, env, what=None):
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{what or args}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The package's wheel, built from a copy of the work tree (no build/ left behind)."""
    # Skip before building anything (20 s): the wheel is set up ahead of the test.
    sync_playwright_or_skip()
    source = tmp_path_factory.mktemp("source")
    files = subprocess.run(
        [shutil.which("git") or "git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
         "-w", str(out), str(source)],
        cwd=source,
        env=os.environ,
        what="building the wheel",
    )  # fmt: skip
    (built,) = out.glob("sealed_integrations-*.whl")
    return built


def _demo_env(tmp_path):
    from integrations.crypto import generate_key

    env = dict(os.environ)
    env.update(
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        INTEGRATIONS_ENCRYPTION_KEYS=generate_key(1),
        DEMO_OIDC_KEY_FILE="",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    env.pop("CACHE_URL", None)
    return env


_REGISTER = """
from django.contrib.auth import get_user_model
from oauth2_provider.models import get_application_model
import os
get_user_model().objects.create_user(
    os.environ["DEMO_USER"], email="demo-user@demo.test", password=os.environ["DEMO_PASSWORD"]
)
App = get_application_model()
App.objects.create(
    name="My project", client_id=os.environ["DEMO_CLIENT_ID"],
    client_secret=os.environ["DEMO_CLIENT_SECRET"],
    client_type=App.CLIENT_CONFIDENTIAL,
    authorization_grant_type=App.GRANT_AUTHORIZATION_CODE,
    redirect_uris=os.environ["DEMO_REDIRECT_URI"], algorithm=App.RS256_ALGORITHM,
)
"""


@dataclass
class DemoApplication:
    """The demo provider's address and the application registered at it."""

    client_id: str
    client_secret: str = field(repr=False)  # never in a failure's report
    url: str = ""
    site_port: int = 0


@pytest.fixture
def demo_provider(tmp_path):
    """This repository's demo OAuth provider on a free port, with a user and the
    application the tutorial's reader registers at it."""
    port, site_port = free_port(), free_port()
    env = _demo_env(tmp_path)
    app = DemoApplication(
        client_id=secrets.token_urlsafe(16),
        client_secret=secrets.token_urlsafe(32),
        url=f"http://127.0.0.1:{port}",
        site_port=site_port,
    )
    run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env)
    run(
        [sys.executable, "manage.py", "shell", "-c", _REGISTER],
        cwd=ROOT,
        env={
            **env,
            "DEMO_USER": DEMO_USER,
            "DEMO_PASSWORD": PASSWORD,
            "DEMO_CLIENT_ID": app.client_id,
            "DEMO_CLIENT_SECRET": app.client_secret,
            "DEMO_REDIRECT_URI": f"http://localhost:{site_port}/integrations/callback/demo/",
        },
        what="registering at the demo",
    )
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(port, server, "the demo provider")
        yield app
    finally:
        server.terminate()
        server.wait(timeout=30)


_NOT_THE_READER_S = {
    "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTHONPATH", "VIRTUAL_ENV", "CACHE_URL",
}  # fmt: skip


class Reader:
    """Someone following the tutorial in a fresh project, in their own virtualenv."""

    def __init__(self, folder, python, django, wheel, demo):
        self.folder, self.wheel, self.demo = folder, wheel, demo
        self.venv = folder / "venv"
        self.project = folder / "myproject"
        # The reader's shell: nothing of this test run's Django or virtualenv.
        self.env = {k: v for k, v in os.environ.items() if k not in _NOT_THE_READER_S}
        self.env["PATH"] = f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"
        self.key = None
        self.servers = []
        run([python, "-m", "venv", str(self.venv)], cwd=folder, env=self.env)
        self.pip("install", "-q", django)
        self.project.mkdir()
        run(
            [self.venv / "bin" / "django-admin", "startproject", "myproject", "."],
            cwd=self.project,
            env=self.env,
        )

    def pip(self, *args):
        run([self.venv / "bin" / "python", "-m", "pip", *args], cwd=self.folder, env=self.env)

    def manage(self, *args, env=None):
        return run(
            [self.venv / "bin" / "python", "manage.py", *args],
            cwd=self.project,
            env=env or self.env,
            what=f"manage.py {' '.join(args)}",
        )

    def path(self, name):
        """Where a file the page names lives: settings.py and urls.py are in the
        project package; every other path is from the project's root."""
        if name in ("settings.py", "urls.py"):
            return self.project / "myproject" / name
        return self.project / name

    def fill_in(self, text):
        return (
            text.replace("http://127.0.0.1:8000", self.demo.url)
            .replace("localhost:8001", f"localhost:{self.demo.site_port}")
            .replace("<client id>", self.demo.client_id)
            .replace("<client secret>", self.demo.client_secret)
        )

    # -- the actions of the marks --

    def do(self, block):
        getattr(self, f"do_{block.action}")(block)

    def do_skip(self, block):
        assert block.argument, "a skipped block says why"

    def do_append(self, block):
        with self.path(block.argument).open("a") as file:
            file.write("\n\n" + block.body + "\n")

    def do_write(self, block):
        target = self.path(block.argument)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.body + "\n")

    def do_run(self, block):
        for line in block.body.splitlines():
            words = shlex.split(line, comments=True)
            if not words:
                continue
            if words[:2] == ["pip", "install"]:
                self.pip(*(w.replace("sealed-integrations", str(self.wheel)) for w in words[1:]))
            elif words[0] == "export":
                name, _, value = words[1].partition("=")
                self.env[name] = self.key if "…" in value else value
            elif words[:2] == ["python", "manage.py"]:
                self.run_manage(words[2:])
            else:
                raise AssertionError(f"tutorial.md:{block.line}: what is `{line}`?")

    def run_manage(self, args):
        if args[0] == "createsuperuser":
            env = {
                **self.env,
                "DJANGO_SUPERUSER_USERNAME": "reader",
                "DJANGO_SUPERUSER_EMAIL": "reader@example.test",
                "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
            }
            self.manage(*args, "--noinput", env=env)
            return
        result = self.manage(*args)
        if args[0] == "generate_encryption_key":
            self.key = result.stdout.strip()
            entry = re.fullmatch(r"1:[A-Za-z0-9_-]{43}=", self.key) is not None
            assert entry, "generate_encryption_key printed no keyring entry"  # never the key
        if args[0] == "check":
            assert "System check identified no issues (0 silenced)." in result.stdout, (
                result.stdout + result.stderr
            )

    def do_shell(self, block):
        """The pycon block is a doctest, run in ``manage.py shell``."""
        script = self.folder / f"block-{block.line}.txt"
        script.write_text(self.fill_in(block.body) + "\n")
        runner = (
            "import doctest, sys\n"
            f"text = open({str(script)!r}).read()\n"
            "test = doctest.DocTestParser().get_doctest(text, {}, 'tutorial', None, 0)\n"
            "runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)\n"
            "runner.run(test)\n"
            "sys.exit(1 if runner.failures else 0)\n"
        )
        self.manage("shell", "-c", runner)

    def do_serve(self, block):
        (line,) = [ln for ln in block.body.splitlines() if ln.strip()]
        words = shlex.split(self.fill_in(line), comments=True)
        assert words[:3] == ["python", "manage.py", "runserver"], line
        server = subprocess.Popen(
            [self.venv / "bin" / "python", "manage.py", "runserver", "--noreload", *words[3:]],
            cwd=self.project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.servers.append(server)
        wait_for(self.demo.site_port, server, "the tutorial's project")

    def stop(self):
        for server in self.servers:
            server.terminate()
            server.wait(timeout=30)


def connect_in_a_browser(site, demo):
    sync_playwright = sync_playwright_or_skip()
    from playwright.sync_api import expect

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            # The page has no base.html of the project's: the app's default layout.
            page.goto(f"{site}/integrations/")
            page.fill("#id_username", "reader")
            page.fill("#id_password", PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(f"{site}/integrations/")
            page.locator("a[href^='/integrations/connect/demo/']").click()
            # At the demo provider: sign in, consent.
            page.fill("#id_username", DEMO_USER)
            page.fill("#id_password", PASSWORD)
            page.locator("[type=submit]").first.click()
            page.get_by_role("button", name="Authorize").click()
            expect(page.locator(".messages")).to_contain_text("Connected Demo")
            expect(page.locator("#connected-accounts")).to_contain_text("demo-user@demo.test")
            return page.content()
        finally:
            browser.close()


SUPPORTED = [
    pytest.param(sys.executable, "Django>=6.1,<6.2", id="newest-django6.1"),
    pytest.param(
        str(PYENV_311[-1]) if PYENV_311 else "",
        "Django>=5.2,<5.3",
        id="oldest-django5.2-python3.11",
        marks=pytest.mark.skipif(not PYENV_311, reason="no Python 3.11 in ~/.pyenv"),
    ),
]


@pytest.mark.parametrize(("python", "django"), SUPPORTED)
def test_the_tutorial_reaches_a_connected_account(tmp_path, wheel, demo_provider, python, django):
    sync_playwright_or_skip()
    reader = Reader(tmp_path, python, django, wheel, demo_provider)
    try:
        for block in tutorial_blocks(TUTORIAL.read_text()):
            reader.do(block)
        assert reader.servers, "the tutorial serves the project"
        site = f"http://localhost:{demo_provider.site_port}"
        html = connect_in_a_browser(site, demo_provider)
    finally:
        reader.stop()
    assert "integrations/integrations.css" in html  # the app's own layout
    assert reader.key not in html
