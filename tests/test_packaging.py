"""What users install: the registry file (`server.json`), the built wheel and sdist, and the installed server.

- `server.json` is checked against the MCP Registry's schema rules (2025-12-11, written out below), the package
  version, the README's `mcp-name:` marker and the README's configuration table.
- Built artefacts and installed copies are checked when `.ci/run`'s packaging step provides them:
  `MAVI_MCP_DIST` (folder with the wheel and sdist from `python -m build`) and `MAVI_MCP_INSTALLED_VENV` (a fresh
  virtual environment with only the wheel and the test tools installed). That step runs this file and
  `test_e2e.py` with that environment's Python, so the end-to-end tests spawn the installed `mavi-mcp`. Without
  the variables these tests skip.
- Which copy a running server imported is read from the server itself: it runs with `PYTHONVERBOSE=1`, which makes
  Python log every module file it loads on stderr (never stdout).
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from jsonschema import Draft7Validator, FormatChecker
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.conftest import mavi_mcp_command
from tests.helpers import README, REPO, config_variables, default_text, ok, settings_by_env

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
SERVER_JSON = REPO / "server.json"
DATA = REPO / "mavi_mcp" / "sandbox" / "data"
SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
AMI_ES2004A = "re_700000000000000012"
COSTCO = "re_700000000000000002"

_INPUT_PROPERTIES: dict[str, Any] = {
    "description": {"type": "string"},
    "isRequired": {"type": "boolean"},
    "format": {"type": "string", "enum": ["string", "number", "boolean", "filepath"]},
    "value": {"type": "string"},
    "isSecret": {"type": "boolean"},
    "default": {"type": "string"},
    "placeholder": {"type": "string"},
    "choices": {"type": "array", "items": {"type": "string"}},
}
REGISTRY_RULES: dict[str, Any] = {
    "$comment": (
        "The rules of https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json (draft-07, "
        "generated from the registry's openapi.yaml) for the parts server.json uses: ServerDetail, Package, "
        "KeyValueInput/Input, StdioTransport, Repository. One addition of ours: no unknown keys, so a misspelt "
        "key (which the registry would ignore) fails here."
    ),
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["name", "description", "version"],
    "additionalProperties": False,
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "name": {"type": "string", "pattern": "^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$", "minLength": 3, "maxLength": 200},
        "title": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string", "minLength": 1, "maxLength": 100},
        "version": {"type": "string", "maxLength": 255},
        "websiteUrl": {"type": "string", "format": "uri"},
        "repository": {
            "type": "object",
            "required": ["url", "source"],
            "properties": {
                "url": {"type": "string", "format": "uri"},
                "source": {"type": "string"},
                "id": {"type": "string"},
                "subfolder": {"type": "string"},
            },
        },
        "packages": {"type": "array", "items": {"$ref": "#/definitions/Package"}},
        "_meta": {"type": "object"},
    },
    "definitions": {
        "Package": {
            "type": "object",
            "required": ["registryType", "identifier", "transport"],
            "additionalProperties": False,
            "properties": {
                "registryType": {"type": "string"},
                "registryBaseUrl": {"type": "string", "format": "uri"},
                "identifier": {"type": "string"},
                "version": {"type": "string", "minLength": 1, "maxLength": 255, "not": {"const": "latest"}},
                "fileSha256": {"type": "string", "pattern": "^[a-f0-9]{64}$"},
                "runtimeHint": {"type": "string"},
                "transport": {
                    "type": "object",
                    "required": ["type"],
                    "additionalProperties": False,
                    "properties": {"type": {"type": "string", "enum": ["stdio"]}},
                },
                "environmentVariables": {"type": "array", "items": {"$ref": "#/definitions/KeyValueInput"}},
            },
        },
        "KeyValueInput": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {"name": {"type": "string"}, **_INPUT_PROPERTIES},
        },
    },
}
VERSION_RANGE = re.compile(r"[\^~<>=*\s]|(^|\.)[xX](\.|$)|^latest$")
"""Version ranges the registry rejects at publish time ('^1.2.3', '>=1.2.3', '1.x', '1.*', 'latest')."""


def server_json() -> dict[str, Any]:
    return json.loads(SERVER_JSON.read_text())


FORMATS = FormatChecker(formats=())


@FORMATS.checks("uri")
def _absolute_uri(value: object) -> bool:
    """RFC 3986 absolute URI, roughly: a scheme, a colon, no blanks (jsonschema checks "uri" only with extras)."""
    return not isinstance(value, str) or re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+", value) is not None


def rule_errors(document: dict[str, Any]) -> list[str]:
    validator = Draft7Validator(REGISTRY_RULES, format_checker=FORMATS)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def package() -> dict[str, Any]:
    packages = server_json()["packages"]
    assert len(packages) == 1
    return packages[0]


# --- server.json ------------------------------------------------------------------------------------------------


def test_server_json_follows_the_registry_schema_rules() -> None:
    document = server_json()
    assert rule_errors(document) == []
    assert document["$schema"] == SCHEMA_URL
    assert not VERSION_RANGE.search(document["version"])
    assert len(document["description"]) <= 100


def _mutate(path: tuple[str | int, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(document: dict[str, Any]) -> None:
        target: Any = document
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return apply


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (_mutate(("description",), "x" * 101), "description"),
        (_mutate(("name",), "mavi-mcp"), "name"),
        (_mutate(("name",), "io.github.mavi-mcp/mavi/mcp"), "name"),
        (_mutate(("version",), KeyError), "'version' is a required property"),
        (_mutate(("packages", 0, "version"), "latest"), "packages/0/version"),
        (_mutate(("packages", 0, "transport"), KeyError), "'transport' is a required property"),
        (_mutate(("packages", 0, "transport", "type"), "websocket"), "packages/0/transport/type"),
        (_mutate(("packages", 0, "runtimeHInt"), "uvx"), "'runtimeHInt' was unexpected"),
        (_mutate(("packages", 0, "environmentVariables", 0, "isSecret"), "yes"), "environmentVariables/0/isSecret"),
        (_mutate(("packages", 0, "environmentVariables", 1, "name"), KeyError), "'name' is a required property"),
        (_mutate(("packages", 0, "environmentVariables", 2, "format"), "path"), "environmentVariables/2/format"),
        (_mutate(("websiteUrl",), "not a url"), "websiteUrl"),
    ],
)
def test_the_registry_rules_reject_what_the_registry_rejects(
    change: Callable[[dict[str, Any]], None], where: str
) -> None:
    document = copy.deepcopy(server_json())
    change(document)
    errors = rule_errors(document)
    assert errors, "the rules accepted a document the registry rejects"
    assert any(where in error for error in errors), errors


def test_server_json_names_this_package_its_version_and_the_readme_marker() -> None:
    document = server_json()
    marker = re.search(r"<!-- mcp-name: (\S+) -->", README.read_text())
    assert marker, "README lacks the mcp-name marker PyPI ownership is verified with"
    assert document["name"] == marker.group(1) == "io.github.mavi-mcp/mavi-mcp"
    entry = package()
    assert document["version"] == entry["version"] == PYPROJECT["version"]
    assert entry["registryType"] == "pypi"
    assert entry["registryBaseUrl"] == "https://pypi.org"
    assert entry["identifier"] == PYPROJECT["name"]
    assert entry["runtimeHint"] == "uvx"
    assert entry["transport"] == {"type": "stdio"}
    assert document["websiteUrl"] == PYPROJECT["urls"]["Documentation"]


def test_server_json_declares_the_readme_configuration_with_the_settings_defaults() -> None:
    variables = package()["environmentVariables"]
    documented = config_variables()
    assert [v["name"] for v in variables] == [v.name for v in documented]

    settings = settings_by_env()
    required = [v["name"] for v in variables if v.get("isRequired")]
    secret = sorted(v["name"] for v in variables if v.get("isSecret"))
    assert required == ["MAVI_API_KEY"]
    assert (
        secret
        == sorted(name for name, field in settings.items() if "SecretStr" in str(field.annotation))
        == [
            "MAVI_API_KEY",
            "MAVI_MCP_AUTH_TOKEN",
            "MAVI_MCP_DATABASE_URL",
            "MAVI_MCP_REQUEST_STATE_KEYS",
            "MAVI_MCP_WEBHOOK_SECRET",
        ]
    )
    for variable, readme in zip(variables, documented, strict=True):
        name = variable["name"]
        assert variable.get("default") == default_text(settings[name]), f"{name}: default differs from Settings"
        if readme.default is not None:
            assert variable.get("default") == readme.default, f"{name}: default differs from the README"
        assert len(variable["description"]) >= 20, f"{name}: describe it"
        if "choices" in variable:
            assert variable["default"] in variable["choices"]
        if variable["format"] == "number" and "default" in variable:
            float(variable["default"])
        if variable["format"] == "boolean":
            assert variable["default"] in ("true", "false")


# --- import cost --------------------------------------------------------------------------------------------------


def test_starting_a_server_leaves_the_sandbox_and_subtitle_libraries_unloaded(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from mavi_mcp.cli import build_parser, settings_from\n"
        "from mavi_mcp.server import create_server\n"
        "create_server(settings_from(build_parser().parse_args([])))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('srt', 'webvtt', 'mavi_mcp'))))\n"
    )
    env = {**os.environ, "MAVI_MCP_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    assert "mavi_mcp.server" in loaded
    assert [m for m in loaded if m.startswith(("srt", "webvtt", "mavi_mcp.sandbox"))] == []


def test_listing_tools_and_reading_the_store_build_no_network_transport(tmp_path: Path) -> None:
    """The HTTP stack and the CA bundle load on the first request that needs them, not at start-up
    (`runtime.LazyTransport`): a client that spawns the server to list its tools does not wait for them."""
    code = (
        "import json, sys, anyio\n"
        "from mcp import Client\n"
        "from mavi_mcp.cli import build_parser, settings_from\n"
        "from mavi_mcp.server import create_server\n"
        "async def main():\n"
        "    async with Client(create_server(settings_from(build_parser().parse_args([])))) as client:\n"
        "        assert len((await client.list_tools()).tools) > 10\n"
        "        assert not (await client.call_tool('list_tasks', {})).is_error\n"
        "anyio.run(main)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('httpcore2', 'h11'))))\n"
    )
    env = {**os.environ, "MAVI_MCP_DATA_DIR": str(tmp_path), "MAVI_API_KEY": "mavi-test-key-0123456789"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


# --- built artefacts (MAVI_MCP_DIST) --------------------------------------------------------------------------------


def dist_file(pattern: str) -> Path:
    folder = os.environ.get("MAVI_MCP_DIST")
    if not folder:
        pytest.skip("MAVI_MCP_DIST is not set (the packaging step of .ci/run builds the wheel and sdist)")
    found = sorted(Path(folder).glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {folder}, found {found}"
    return found[0]


def test_the_wheel_carries_every_bundled_recording_the_licenses_and_the_registry_marker() -> None:
    wheel = dist_file(f"mavi_mcp-{PYPROJECT['version']}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        bundled = sorted(p for p in DATA.rglob("*") if p.is_file())
        assert len(bundled) > 20
        for path in bundled:
            inside = path.relative_to(REPO).as_posix()
            assert inside in names, f"{inside} is missing from the wheel"
            assert archive.read(inside) == path.read_bytes(), f"{inside} differs in the wheel"
        info = f"mavi_mcp-{PYPROJECT['version']}.dist-info"
        assert archive.read(f"{info}/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()
        assert f"{info}/licenses/mavi_mcp/sandbox/data/ATTRIBUTION.md" in names
        metadata = archive.read(f"{info}/METADATA").decode()
        assert "mavi-mcp = mavi_mcp.cli:main" in archive.read(f"{info}/entry_points.txt").decode()
    assert f"\nName: mavi-mcp\nVersion: {PYPROJECT['version']}\n" in metadata
    assert "<!-- mcp-name: io.github.mavi-mcp/mavi-mcp -->" in metadata
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "examples/"))]


def test_the_sdist_carries_sources_tests_examples_and_the_registry_file() -> None:
    sdist = dist_file(f"mavi_mcp-{PYPROJECT['version']}.tar.gz")
    root = f"mavi_mcp-{PYPROJECT['version']}"
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
        member = archive.extractfile(f"{root}/server.json")
        assert member is not None
        assert json.load(io.TextIOWrapper(member)) == server_json()
    for expected in (
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "mavi_mcp/cli.py",
        "mavi_mcp/sandbox/data/ATTRIBUTION.md",
        "tests/test_e2e.py",
        "examples/agent_session.py",
        "examples/claude_desktop_config.json",
        "examples/cursor/.cursor/mcp.json",
        "examples/vscode/.vscode/mcp.json",
        "examples/http/serve.sh",
        "benchmarks/perf_bench.py",
    ):
        assert f"{root}/{expected}" in names, f"{expected} is missing from the sdist"


# --- installed copies (MAVI_MCP_INSTALLED_VENV, uvx) ------------------------------------------------------------------


def installed_venv() -> Path:
    folder = os.environ.get("MAVI_MCP_INSTALLED_VENV")
    if not folder:
        pytest.skip("MAVI_MCP_INSTALLED_VENV is not set (the packaging step of .ci/run installs the wheel)")
    return Path(folder).resolve()


def loaded_mavi_mcp_files(trace: str) -> set[Path]:
    """Files of `mavi_mcp` modules a `PYTHONVERBOSE=1` interpreter reported loading."""
    found = re.findall(r"^# \S+ matches (\S+/mavi_mcp/\S+\.py)$", trace, flags=re.MULTILINE)
    found += re.findall(r"^# code object from '?(\S+/mavi_mcp/[^'\s]+\.py)'?$", trace, flags=re.MULTILINE)
    return {Path(f).resolve() for f in found}


async def serve_recordings(params: StdioServerParameters, trace: Path) -> None:
    """List the tools and transcribe two bundled recordings through a spawned `--sandbox` server."""
    with trace.open("w") as errlog, anyio.fail_after(240):
        async with Client(stdio_client(params, errlog=errlog)) as client:
            assert len((await client.list_tools()).tools) == 13
            turns = ok(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
            assert turns["counts"]["segments"] == 260
            words = ok(await client.call_tool("transcribe_whisper", {"asset_id": COSTCO, "speaker": True}))
            assert len(words["speakers"]) == 17
            assert words["duration"] == pytest.approx(3973.32)


@pytest.mark.anyio
async def test_the_installed_mavi_mcp_serves_from_its_virtual_environment_not_the_source_tree(tmp_path: Path) -> None:
    venv = installed_venv()
    script = venv / "bin" / "mavi-mcp"
    assert script.exists()
    env = {"MAVI_MCP_DATA_DIR": str(tmp_path / "data"), "PYTHONVERBOSE": "1"}
    params = StdioServerParameters(command=str(script), args=["--sandbox"], env=env, cwd=REPO)
    await serve_recordings(params, tmp_path / "stderr.txt")

    loaded = loaded_mavi_mcp_files((tmp_path / "stderr.txt").read_text(errors="replace"))
    assert {"server.py", "catalog.py", "app.py"} <= {path.name for path in loaded}
    assert [path for path in loaded if not path.is_relative_to(venv)] == []
    assert [path for path in loaded if "site-packages" not in path.parts] == []


def test_the_end_to_end_tests_of_this_run_spawn_the_installed_console_script() -> None:
    venv = installed_venv()
    command = mavi_mcp_command()
    assert Path(command[0]).resolve() == venv / "bin" / "mavi-mcp"
    shown = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert shown.stdout.strip() == f"mavi-mcp {PYPROJECT['version']}"


@pytest.mark.anyio
async def test_uvx_runs_the_built_wheel_as_a_stdio_server(tmp_path: Path) -> None:
    wheel = dist_file(f"mavi_mcp-{PYPROJECT['version']}-py3-none-any.whl")
    uvx = shutil.which("uvx", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if uvx is None:
        pytest.skip("uvx is not installed (the packaging step of .ci/run installs uv)")
    # uv needs the caller's environment (certificates, proxies, cache), as it gets from a client's config
    env = {**os.environ, "MAVI_MCP_DATA_DIR": str(tmp_path / "data"), "PYTHONVERBOSE": "1"}
    env.pop("PYTHONPATH", None)
    params = StdioServerParameters(command=uvx, args=["--from", str(wheel), "mavi-mcp", "--sandbox"], env=env, cwd=REPO)
    await serve_recordings(params, tmp_path / "stderr.txt")

    loaded = loaded_mavi_mcp_files((tmp_path / "stderr.txt").read_text(errors="replace"))
    assert "server.py" in {path.name for path in loaded}
    assert [path for path in loaded if path.is_relative_to(REPO)] == []
