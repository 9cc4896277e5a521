#!/usr/bin/env bash
# Build the sdist and the wheel, check them, install the wheel into clean virtual environments
# (none of them sees this checkout's src/) and run the quickstart from each. CI runs it after
# the tests (.ci/run); run it by hand the same way:
#
#     bash scripts/check_dist.sh            # uses .venv/bin/python (pip install -e ".[dev]")
#     PYTHON=/path/to/python bash scripts/check_dist.sh
#
# The interpreter must have `build` and `twine` (the dev extra). The artefacts are left in
# dist/; the environments live in a temporary folder removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
EXTRAS=(server redis celery cli prometheus otel)

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# A check must never import the checkout by accident.
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP

echo "-- build the sdist, and the wheel from it"
rm -rf dist
"$PYTHON" -m build --outdir dist . >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
shopt -s nullglob
wheels=(dist/*.whl)
sdists=(dist/*.tar.gz)
shopt -u nullglob
if [[ ${#wheels[@]} -ne 1 || ${#sdists[@]} -ne 1 ]]; then
    echo "expected one wheel and one sdist in dist/, found: ${wheels[*]-} ${sdists[*]-}" >&2
    exit 1
fi
WHEEL="$ROOT/${wheels[0]}"
SDIST="$ROOT/${sdists[0]}"
ls -l dist

echo "-- twine check --strict"
"$PYTHON" -m twine check --strict dist/*

echo "-- what the artefacts hold"
"$PYTHON" - "$WHEEL" "$SDIST" "${EXTRAS[@]}" <<'PY'
import sys
import tarfile
import zipfile
from email.parser import HeaderParser

wheel, sdist, *extras = sys.argv[1:]
version = wheel.rsplit("/", 1)[-1].split("-")[1]
problems = []

names = zipfile.ZipFile(wheel).namelist()
dist_info = f"hull_customerio-{version}.dist-info/"
for name in names:
    if not name.startswith(("hull_customerio/", dist_info)):
        problems.append(f"wheel: unexpected file {name}")
for needed in ("hull_customerio/__init__.py", "hull_customerio/py.typed",
               "hull_customerio/testing/__init__.py", f"{dist_info}licenses/LICENSE"):
    if needed not in names:
        problems.append(f"wheel: {needed} is missing")
if any("/tests/" in n or "__pycache__" in n or n.endswith(".pyc") for n in names):
    problems.append("wheel: holds tests or compiled files")
with zipfile.ZipFile(wheel) as zf:
    metadata = HeaderParser().parsestr(zf.read(f"{dist_info}METADATA").decode())
    entry_points = zf.read(f"{dist_info}entry_points.txt").decode()
if sorted(metadata.get_all("Provides-Extra") or []) != sorted([*extras, "dev", "bench"]):
    problems.append(f"wheel: extras {metadata.get_all('Provides-Extra')}, expected {extras}")
if "hull-customerio = hull_customerio.cli:main" not in entry_points:
    problems.append("wheel: the hull-customerio console script is missing")

root = sdist.rsplit("/", 1)[-1].removesuffix(".tar.gz") + "/"
members = tarfile.open(sdist).getnames()
for needed in ("pyproject.toml", "README.md", "LICENSE", "src/hull_customerio/py.typed"):
    if root + needed not in members:
        problems.append(f"sdist: {needed} is missing")
for unwanted in (".venv/", "site/", "dist/", ".git/"):
    if any(m.startswith(root + unwanted) for m in members):
        problems.append(f"sdist: holds {unwanted}")

print(f"wheel: {len(names)} files; sdist: {len(members)} entries")
if problems:
    sys.exit("\n".join(problems))
PY

# A clean environment: a new venv outside the checkout, the wheel installed by the checkout's
# pip (`pip --python`), so the new venv needs no pip of its own.
new_env() {
    python3 -m venv --without-pip "$WORK/$1"
    "$PYTHON" -m pip --python "$WORK/$1/bin/python" install --quiet "${@:2}"
}

# The quickstart, copied (with its data) to a folder of its own: run from there, only the
# installed wheel can provide hull_customerio. The same process checks where it came from.
mkdir -p "$WORK/run"
cp -r examples/quickstart.py examples/data "$WORK/run/"
run_quickstart() {
    local env="$WORK/$1"
    (cd "$WORK/run" && "$env/bin/python" -I -c '
import runpy, sys
import hull_customerio
if not hull_customerio.__file__.startswith(sys.prefix + "/"):
    sys.exit(f"hull_customerio was imported from {hull_customerio.__file__}, not {sys.prefix}")
runpy.run_path("quickstart.py", run_name="__main__")
' >"$WORK/$1-quickstart.log") || { cat "$WORK/$1-quickstart.log"; exit 1; }
    echo "$1: the quickstart ran on the installed wheel ($(wc -l <"$WORK/$1-quickstart.log") lines)"
}

echo "-- the wheel alone (no extra)"
new_env bare "$WHEEL"
run_quickstart bare
"$WORK/bare/bin/hull-customerio" --help >/dev/null
# The optional parts say which extra to install, and the core never imports them.
(cd "$WORK/run" && "$WORK/bare/bin/python" -I -c '
import importlib, sys
import hull_customerio
for name in ("starlette", "redis", "celery", "prometheus_client", "opentelemetry", "tqdm"):
    if name in sys.modules:
        sys.exit(f"import hull_customerio imported {name}")
for module, extra in [("server", "server"), ("redis_limiter", "redis"), ("celery", "celery"),
                      ("metrics.prometheus", "prometheus"), ("metrics.otel", "otel")]:
    try:
        importlib.import_module(f"hull_customerio.{module}")
    except ImportError as exc:
        if f"{extra}" not in str(exc):
            sys.exit(f"hull_customerio.{module}: the error does not name the extra: {exc}")
    else:
        sys.exit(f"hull_customerio.{module} imported without the {extra!r} extra")
')

echo "-- the wheel with every extra: ${EXTRAS[*]}"
all_extras="$(IFS=,; echo "${EXTRAS[*]}")"
new_env extras "$WHEEL[$all_extras]"
run_quickstart extras
"$WORK/extras/bin/hull-customerio" --help >/dev/null
"$WORK/extras/bin/hull-customerio" serve --help >/dev/null
(cd "$WORK/run" && "$WORK/extras/bin/python" -I -c '
import hull_customerio.server, hull_customerio.redis_limiter, hull_customerio.celery
import hull_customerio.metrics.prometheus, hull_customerio.metrics.otel, tqdm
')

echo "-- each extra on its own brings what its module needs"
for extra in "${EXTRAS[@]}"; do
    case "$extra" in
        server) module=hull_customerio.server ;;
        redis) module=hull_customerio.redis_limiter ;;
        celery) module=hull_customerio.celery ;;
        cli) module=tqdm ;;
        prometheus) module=hull_customerio.metrics.prometheus ;;
        otel) module=hull_customerio.metrics.otel ;;
    esac
    new_env "only-$extra" "$WHEEL[$extra]"
    (cd "$WORK/run" && "$WORK/only-$extra/bin/python" -I -c "import $module") \
        || { echo "the $extra extra does not bring what $module needs" >&2; exit 1; }
    echo "$extra: import $module"
done

echo "-- another project that depends on the wheel by a direct reference (as the docs show)"
mkdir -p "$WORK/dependent/src/dependent"
touch "$WORK/dependent/src/dependent/__init__.py"
cat >"$WORK/dependent/pyproject.toml" <<TOML
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "dependent"
version = "1.0"
dependencies = ["hull-customerio[server] @ file://$WHEEL"]

[tool.hatch.metadata]
allow-direct-references = true
TOML
new_env dependent "$WORK/dependent"
(cd "$WORK/run" && "$WORK/dependent/bin/python" -I -c "import hull_customerio.server, dependent")
echo "dependent: installed hull-customerio[server] through its pyproject.toml"

echo "dist checked: $(basename "$WHEEL"), $(basename "$SDIST")"
