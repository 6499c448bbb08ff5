"""The built package as a deployment gets it: the Dockerfile's image, set up and run as the
README's production steps say, from an empty directory outside the checkout.

Where a container engine runs (`docker info`), the image is built and every step runs in a
container of it. Where none does (this project's machines), the test performs the Dockerfile's
own steps, read from it: each stage is a directory standing for its filesystem, COPY copies
from the checkout, RUN runs (its pip is the checkout venv's, offline: the build stage's
`pip wheel` without build isolation, the image's `pip install` with `--no-deps` into a fresh
virtualenv whose other packages are the checkout venv's, less its editable crm_assets) and the
CMD serves the code location. The README's docker commands (the block naming this file) are
read the same way, so neither can drift from what is tested.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import tomlkit
import yaml

from crm_assets.config import SourceConfig
from crm_assets.sandbox.ports import free_port
from crm_assets.sandbox.server import Sandbox
from crm_assets_tests.helpers import assert_tables_exact

pytestmark = pytest.mark.xdist_group("packaging")

REPO = Path(__file__).resolve().parent.parent
CHECKOUT_PYTHON = Path(sys.executable)  # the checkout's .venv, crm_assets installed editable
README_STEPS_MARKER = "crm_assets_tests/test_packaging.py performs these steps"
LOCATION = "crm_assets.definitions"
NOT_SHIPPED = re.compile(
    r"^(crm_assets_tests/|bench/|crm_assets/sandbox/|crm_assets/demo/)"
    r"|(^|/)(test_[^/]*|conftest)\.py$|secrets\.toml$"
)
# What one process resolves, as dlt resolves it for a run's extract, normalize and DuckDB load;
# and the code location, loaded from where the process starts.
PROBE = """
import importlib.util, json, os
import dlt
from dlt.common.configuration.resolve import resolve_configuration
from dlt.common.data_writers.buffered import BufferedDataWriter
from dlt.normalize.configuration import NormalizeConfiguration
import crm_assets
from crm_assets.definitions import defs
from crm_assets.project_files import configs_dir

def settings():
    normalize = resolve_configuration(
        NormalizeConfiguration(), sections=("normalize",), accept_partial=True)
    writer = resolve_configuration(
        BufferedDataWriter.BufferedDataWriterConfiguration(), sections=("extract",))
    duckdb = dlt.destinations.duckdb("unused.duckdb")
    client = duckdb.configuration(duckdb.spec()._bind_dataset_name(dataset_name="x"))
    return {"normalize.workers": normalize.workers,
            "data_writer.file_max_items": writer.file_max_items,
            "destination.duckdb.credentials.global_config": client.credentials.global_config}

found = settings()
os.environ["NORMALIZE__WORKERS"] = "2"
print(json.dumps({
    "crm_assets": crm_assets.__file__, "configs_dir": str(configs_dir()),
    "sandbox_importable": importlib.util.find_spec("crm_assets.sandbox") is not None,
    "sources": sorted(path.stem for path in configs_dir().glob("*.yaml")),
    "assets": len(list(defs.resolve_asset_graph().get_all_asset_keys())),
    "settings": found, "workers_from_env": settings()["normalize.workers"]}))
"""
# What a run must not take from the test's own environment.
ENV_DROPPED = re.compile(
    r"^(PYTHONPATH|VIRTUAL_ENV|PYTHONHOME|DLT_.*|CRM_CONFIGS_DIR|CRM_CELERY_YAML"
    r"|(NORMALIZE|EXTRACT|LOAD|DATA_WRITER|DESTINATION|RUNTIME)__.*)$"
)


def engine_runs() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True, check=False, timeout=60
    ).returncode == 0


# --- the Dockerfile's steps, without an engine ------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    arguments: str


def dockerfile_instructions(text: str) -> list[Instruction]:
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")
    ))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append(Instruction(keyword.upper(), arguments.strip()))
    return instructions


@dataclass
class Stage:
    name: str
    root: Path  # stands for the stage's filesystem: a container path /p is root/p
    final: bool
    cwd: Path = field(init=False)
    env: dict[str, str] = field(default_factory=dict)
    cmd: list[str] = field(default_factory=list)
    exposed: list[int] = field(default_factory=list)
    python: Path | None = None  # the final stage's interpreter (the fresh virtualenv)

    def __post_init__(self) -> None:
        self.cwd = self.root
        self.root.mkdir(parents=True)

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/") if container_path.startswith("/") \
            else self.cwd / container_path


def fresh_virtualenv(target: Path) -> Path:
    """A virtualenv with no pip and no crm_assets, whose other packages are the checkout
    venv's (a .pth names a directory of links to them: not its editable crm_assets, whose
    finder would import the checkout), and whose console scripts run its own python."""
    subprocess.run([str(CHECKOUT_PYTHON), "-m", "venv", "--without-pip", str(target)], check=True)
    python = target / "bin" / "python"
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip())
    checkout_site = Path(subprocess.run(
        [str(CHECKOUT_PYTHON), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip())
    dependencies = target / "checkout_dependencies"
    dependencies.mkdir()
    for entry in checkout_site.iterdir():
        if not re.match(r"(crm_assets|__editable__)", entry.name) and entry.suffix != ".pth":
            (dependencies / entry.name).symlink_to(entry)
    (site / "checkout_dependencies.pth").write_text(f"{dependencies}\n")
    checkout_bin = CHECKOUT_PYTHON.parent
    for script in checkout_bin.iterdir():
        if script.is_file() and not script.name.startswith(("pip", "python", "activate")):
            text = script.read_bytes()
            if text.startswith(b"#!" + str(checkout_bin).encode()):
                launcher = target / "bin" / script.name
                launcher.write_bytes(b"#!%s\n%s" % (str(python).encode(), text.partition(b"\n")[2]))
                launcher.chmod(0o755)
    return python


def perform_dockerfile(dockerfile: Path, context: Path, work: Path) -> Stage:
    """Every step of every stage; returns the final stage (the image)."""
    instructions = dockerfile_instructions(dockerfile.read_text())
    stages_total = sum(1 for i in instructions if i.keyword == "FROM")
    arguments: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for instruction in instructions:
        keyword, rest = instruction.keyword, instruction.arguments
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            arguments[name] = default
        elif keyword == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: arguments[m.group(1)], rest)
            named = re.fullmatch(r"\S+(?:\s+as\s+(\S+))?", image, re.IGNORECASE)
            name = named.group(1) or str(len(stages))
            final = len(stages) + 1 == stages_total
            stage = Stage(name, work / f"stage-{len(stages)}-{name}", final)
            if final:  # the base image: a Python whose dependencies are the checkout venv's
                stage.python = fresh_virtualenv(work / "image-python")
            stages[name] = stage
        elif keyword == "WORKDIR":
            stage.cwd = stage.path(rest)
            stage.cwd.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            words = shlex.split(rest)
            source_root = context
            if words[0].startswith("--from="):
                source_root = stages[words.pop(0).removeprefix("--from=")].root
            *sources, destination = words
            target = stage.path(destination)
            for source in sources:
                origin = source_root / source.lstrip("/")
                if origin.is_dir():
                    shutil.copytree(origin, target, dirs_exist_ok=True)
                elif destination.endswith("/") or len(sources) > 1 or target.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target / origin.name)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target)
        elif keyword == "RUN":
            # Commands run on this machine: only these, their container paths in the stage.
            parts = [shlex.split(part) for part in rest.split("&&")]
            known = {("pip", "wheel"), ("pip", "install"), ("rm",), ("mkdir",)}
            unknown = [part for part in parts if tuple(part[:2]) not in known
                       and tuple(part[:1]) not in known]
            assert not unknown, f"the test does not know how to perform RUN {rest}"
            command = re.sub(r"(?<=[\s=])/(?=\w)", f"{stage.root}/", f" {rest}")[1:]
            python = shlex.quote(str(CHECKOUT_PYTHON))
            if stage.final:  # into the image's virtualenv; its dependencies are there already
                pip = f"{python} -m pip --python {shlex.quote(str(stage.python))}"
                command = re.sub(r"(^|&&\s*)pip install", rf"\1{pip} install --no-deps", command)
            else:  # the checkout venv's setuptools: no download
                command = re.sub(r"(^|&&\s*)pip wheel",
                                 rf"\1{python} -m pip wheel --no-build-isolation", command)
            assert not re.search(r"(^|&&\s*)pip ", command), command
            done = subprocess.run(["bash", "-c", command], cwd=stage.cwd, capture_output=True,
                                  text=True, check=False, timeout=300)
            assert done.returncode == 0, f"RUN {rest}\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        elif keyword == "ENV":  # one variable: NAME=value, container paths mapped
            name, value = re.split(r"[=\s]", rest, maxsplit=1)
            value = value.strip()
            stage.env[name] = str(stage.path(value)) if value.startswith("/") else value
        elif keyword == "EXPOSE":
            stage.exposed += [int(port.split("/")[0]) for port in rest.split()]
        elif keyword == "CMD":
            stage.cmd = json.loads(rest)
        else:
            raise AssertionError(f"the test does not know how to perform {keyword} {rest}")
    assert stage is not None and stage.final
    return stage


# --- containers of the image: processes of the fresh virtualenv, or of the engine -------------


class Containers:
    """The README's docker commands against the image. A container's port is served on a free
    local port (`ports`) and its name on 127.0.0.1; its environment is `crm_env` (the README's
    crm.env) over the image's ENV."""

    def __init__(self, image: Stage | str, crm_env: dict[str, str], work: Path) -> None:
        self.image = image
        self.crm_env = crm_env
        self.work = work
        self.ports: dict[int, int] = {}
        self.names: set[str] = set()
        self.processes: list[subprocess.Popen] = []
        self.engine_container: str | None = None

    @property
    def engine(self) -> bool:
        return not isinstance(self.image, Stage)

    def process_env(self) -> dict[str, str]:
        """Without an engine: this machine's environment, less what would point a run at the
        checkout or change dlt's settings, then the image's ENV and crm.env."""
        assert isinstance(self.image, Stage)
        base = {name: value for name, value in os.environ.items() if not ENV_DROPPED.match(name)}
        return {**base, **self.image.env, **self.crm_env,
                "PATH": f"{self.image.python.parent}{os.pathsep}{os.environ['PATH']}"}

    def _command(self, words: list[str]) -> list[str]:
        """The README's command, its ports, listen address and workspace file for this machine."""
        words = list(words)
        for index, word in enumerate(words[:-1]):
            following = words[index + 1]
            if word in ("-p", "--port") and int(following) in self.ports:
                words[index + 1] = str(self.ports[int(following)])
            elif word in ("-h", "--host") and following == "0.0.0.0":
                words[index + 1] = "127.0.0.1"
            elif word in ("-w", "--workspace"):
                words[index + 1] = str(self._workspace(following))
        return words

    def _workspace(self, container_path: str) -> Path:
        """The image's workspace file, its grpc_server entries pointed at this machine."""
        if isinstance(self.image, Stage):
            source = self.image.path(container_path)
        else:
            source = self.work / "image_workspace.yaml"
            subprocess.run(["docker", "cp", f"{self._engine()}:{container_path}", str(source)],
                           check=True, capture_output=True)
        workspace = yaml.safe_load(source.read_text())
        for entry in workspace["load_from"]:
            server = entry["grpc_server"]
            assert server["host"] in self.names, f"no container {server['host']} was started"
            server["host"], server["port"] = "127.0.0.1", self.ports[server["port"]]
        pointed = self.work / f"workspace-{len(self.processes)}.yaml"
        pointed.write_text(yaml.safe_dump(workspace))
        return pointed

    def _engine(self) -> str:
        """With an engine: one container of the image on the host's network (the sandbox
        listens on 127.0.0.1), the test's directory mounted at its own path; every command
        runs in it."""
        if self.engine_container is None:
            env_file = self.work / "crm.env"
            env_file.write_text("".join(f"{name}={value}\n" for name, value in
                                        self.crm_env.items()))
            self.engine_container = subprocess.run(
                ["docker", "run", "-d", "--rm", "--network", "host", "-v",
                 f"{self.work}:{self.work}", "--env-file", str(env_file), str(self.image),
                 "sleep", "infinity"],
                capture_output=True, text=True, check=True,
            ).stdout.strip()
        return self.engine_container

    def start(self, name: str, container_port: int, words: list[str]) -> None:
        """`docker run -d`: a server, in the background until `stop`."""
        self.names.add(name)
        self.ports.setdefault(container_port, free_port())
        command = self._command(words)
        if isinstance(self.image, Stage):
            process = subprocess.Popen(
                command, cwd=self.image.cwd, env=self.process_env(), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
            )
        else:
            process = subprocess.Popen(["docker", "exec", self._engine(), *command],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)

    def run(self, words: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`docker exec`: a command to its end, from the image's working directory."""
        command = self._command(words)
        if isinstance(self.image, Stage):
            return subprocess.run(command, cwd=self.image.cwd, env=self.process_env(),
                                  capture_output=True, text=True, timeout=timeout, check=False)
        return subprocess.run(["docker", "exec", self._engine(), *command], capture_output=True,
                              text=True, timeout=timeout, check=False)

    def stop(self) -> None:
        if self.engine_container:  # its processes end with it
            subprocess.run(["docker", "rm", "-f", self.engine_container], capture_output=True,
                           check=False)
        for process in self.processes:
            if process.poll() is None and not self.engine:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                if self.engine:
                    process.kill()
                else:
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def readme_steps() -> list[list[str]]:
    """The README's production block naming this file: one command per line."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    [block] = [block for block in blocks if README_STEPS_MARKER in block]
    lines = re.sub(r"\\\n\s*", " ", block).splitlines()
    return [shlex.split(line, comments=True) for line in lines if shlex.split(line, comments=True)]


def docker_run_options(words: list[str]) -> tuple[dict[str, list[str]], str, list[str]]:
    """`docker run -d --name N --network X -p H:C --env-file F IMAGE [command]`."""
    options: dict[str, list[str]] = {}
    rest = words[2:]
    while rest[0].startswith("-"):
        option = rest.pop(0)
        if option in ("-d", "--rm"):
            options.setdefault(option, [])
        else:
            options.setdefault(option, []).append(rest.pop(0))
    return options, rest[0], rest[1:]


# --- the tests --------------------------------------------------------------------------------


@dataclass
class Build:
    tag: str  # the README's
    image: Stage | str  # the performed final stage, or the engine's tag
    wheel: Path
    engine: bool


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The README's `docker build`: the image, and the wheel its build stage made."""
    work = tmp_path_factory.mktemp("packaging")
    [build_step] = [words for words in readme_steps() if words[:2] == ["docker", "build"]]
    assert build_step[-1] == "." and "-t" in build_step
    tag = build_step[build_step.index("-t") + 1]
    if not engine_runs():
        image = perform_dockerfile(REPO / "Dockerfile", REPO, work)
        [wheel] = (work / "stage-0-build" / "wheels").glob("*.whl")
        return Build(tag, image, wheel, engine=False)
    subprocess.run(build_step, cwd=REPO, check=True, timeout=1800)
    # The image keeps no wheel: take it from the build stage (cached by the build above).
    subprocess.run(["docker", "build", "--target", "build", "-t", f"{tag}-build", "."], cwd=REPO,
                   check=True, timeout=1800)
    stage = subprocess.run(["docker", "create", f"{tag}-build"], capture_output=True, text=True,
                           check=True).stdout.strip()
    subprocess.run(["docker", "cp", f"{stage}:/wheels", str(work / "wheels")], check=True)
    subprocess.run(["docker", "rm", stage], capture_output=True, check=False)
    return Build(tag, tag, next((work / "wheels").glob("*.whl")), engine=True)


def test_the_wheel_holds_the_product_and_its_configs_and_nothing_else(build: Build):
    with zipfile.ZipFile(build.wheel) as wheel:
        names = wheel.namelist()
        assert [name for name in names if NOT_SHIPPED.search(name)] == []
        # The files the code location reads, as they are in the repo.
        shipped = {f"configs/{path.name}": path for path in (REPO / "configs").glob("*.yaml")}
        shipped |= {"celery.yaml": REPO / "celery.yaml",
                    ".dlt/config.toml": REPO / ".dlt" / "config.toml"}
        assert {
            name: wheel.read(f"crm_assets/_project/{name}")
            for name in shipped if f"crm_assets/_project/{name}" in names
        } == {name: path.read_bytes() for name, path in shipped.items()}
        assert sorted(name for name in names if name.startswith("crm_assets/_project/")) == \
            sorted(f"crm_assets/_project/{name}" for name in shipped)
        assert "crm_assets = crm_assets.project_files.dlt_settings" in wheel.read(
            "crm_assets-0.1.0.dist-info/entry_points.txt").decode()
    # Every module of the product: a new subpackage missing from pyproject.toml's list fails.
    product = {
        path.relative_to(REPO).as_posix() for path in (REPO / "crm_assets").rglob("*.py")
        if not NOT_SHIPPED.search(path.relative_to(REPO).as_posix())
    }
    assert sorted(product - set(names)) == []


def probe(containers: Containers | None = None, cwd: Path = REPO,
          env: dict[str, str] | None = None) -> dict:
    """PROBE's findings in a container of the image, or with the checkout's venv in `cwd`."""
    if containers is not None:
        done = containers.run(["python", "-c", PROBE], timeout=120)
    else:
        done = subprocess.run([str(CHECKOUT_PYTHON), "-c", PROBE], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_image_serves_the_code_location_and_loads_a_source_from_an_empty_directory(
    build: Build, sandbox: Sandbox, configs: list[SourceConfig], duckdb_path: Path,
    tmp_path: Path,
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    # The README's crm.env: the sandbox's URLs and secrets, a DuckDB file of the test's, and a
    # local instance in place of the image's Postgres one.
    crm_env = {**sandbox.env(), "DAGSTER_HOME": str(home), "CRM_DUCKDB_PATH": str(duckdb_path),
               "CRM_PIPELINES_DIR": str(tmp_path / "dlt_pipelines")}
    containers = Containers(build.image, crm_env, tmp_path)
    try:
        # The code location and dlt's settings, from the image's working directory (empty),
        # against the same from the checkout.
        if not build.engine:
            assert list(build.image.cwd.iterdir()) == []
        installed = probe(containers)
        checkout = probe(env={
            **{name: value for name, value in os.environ.items() if not ENV_DROPPED.match(name)},
            **crm_env,
        })
        if not build.engine:
            site_packages = build.image.python.parent.parent / "lib"
            assert Path(installed["crm_assets"]).is_relative_to(site_packages), installed
            assert Path(installed["configs_dir"]).is_relative_to(site_packages), installed
        assert installed["sandbox_importable"] is False
        assert (installed["sources"], installed["assets"]) == (
            checkout["sources"], checkout["assets"]
        )
        shipped = tomlkit.parse((REPO / ".dlt" / "config.toml").read_text()).unwrap()
        assert installed["settings"] == checkout["settings"] == {
            "normalize.workers": shipped["normalize"]["workers"],
            "data_writer.file_max_items": shipped["data_writer"]["file_max_items"],
            "destination.duckdb.credentials.global_config":
                shipped["destination"]["duckdb"]["credentials"]["global_config"],
        }
        assert installed["workers_from_env"] == 2  # env vars still win

        executed, workspaces = [], []
        for words in readme_steps():
            if words[:2] == ["docker", "build"] or words[:3] == ["docker", "network", "create"]:
                continue  # built by the fixture; here the network is this machine's loopback
            if words[:2] == ["docker", "run"]:
                options, image, command = docker_run_options(words)
                assert image == build.tag
                name = options["--name"][0]
                if not command:  # the image's own CMD: the code server
                    command = build.image.cmd if not build.engine else json.loads(subprocess.run(
                        ["docker", "inspect", "-f", "{{json .Config.Cmd}}", image],
                        capture_output=True, text=True, check=True).stdout)
                    port = int(command[command.index("-p") + 1])
                    assert command[command.index("-m") + 1] == LOCATION
                    assert build.engine or port in build.image.exposed
                    containers.start(name, port, command)
                elif command[0] == "dagster-webserver":
                    port = int(command[command.index("-p") + 1])
                    containers.start(name, port, command)
                    assert_webserver_loads_the_location(containers.ports[port])
                    workspaces.append(command[command.index("-w") + 1])
                elif command[:2] == ["dagster-daemon", "run"]:
                    # Its workspace is the webserver's, which loaded the location above; the
                    # daemon would go on to evaluate schedules and sensors through it.
                    assert command[command.index("-w") + 1] in workspaces
                else:
                    raise AssertionError(f"the test does not know the README's {words}")
            elif words[:2] == ["docker", "exec"]:
                command = words[3:]
                if command[:3] == ["dagster", "api", "grpc-health-check"]:
                    wait_until_healthy(containers, command)
                else:
                    done = containers.run(command)
                    assert done.returncode == 0, done.stderr[-3000:]
                executed.append(" ".join(command))
            else:
                raise AssertionError(f"the test does not know the README's {words}")
        assert executed == [
            "dagster api grpc-health-check -p 4000",
            f"dagster asset materialize -m {LOCATION} --select group:lead_crm",
        ]
        assert workspaces == ["/opt/dagster/workspace.yaml"]
    finally:
        containers.stop()
    [lead_crm] = [config for config in configs if config.name == "lead_crm"]
    assert_tables_exact(sandbox, lead_crm, duckdb_path)


def wait_until_healthy(containers: Containers, command: list[str], timeout: float = 120) -> None:
    """The README's health check, until the code server has loaded the location and answers."""
    deadline = time.monotonic() + timeout
    while (done := containers.run(command, timeout=60)).returncode != 0:
        assert all(process.poll() is None for process in containers.processes), "a server exited"
        assert time.monotonic() < deadline, done.stdout + done.stderr
        time.sleep(0.5)


def assert_webserver_loads_the_location(port: int, timeout: float = 120) -> None:
    """The workspace of the webserver (and the daemon) reaches the code server's location."""
    query = """{ workspaceOrError { ... on Workspace { locationEntries { name
        loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query},
                                     timeout=30)
            entries = response.json()["data"]["workspaceOrError"]["locationEntries"]
            if entries and entries[0]["loadStatus"] == "LOADED":
                break
        except (requests.ConnectionError, requests.Timeout, ValueError, KeyError, TypeError):
            entries = None
        assert time.monotonic() < deadline, entries
        time.sleep(0.5)
    assert [(e["name"], e["locationOrLoadError"]["__typename"]) for e in entries] == [
        (LOCATION, "RepositoryLocation")
    ]
