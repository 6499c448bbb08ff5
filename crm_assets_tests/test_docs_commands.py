"""Every command README.md and docs/*.md give, checked against the project without running it.

A command is a line of a fenced block (`\\`-continued lines joined) or an inline code span whose
program is `dagster`, `dg`, `make` or a `dagster-*` service, after `.venv/bin/`, `NAME=value`
assignments, `do`, or `docker exec NAME` / `docker run ... IMAGE`. `<source>` and `$source` are
replaced by each source's name, and every variant is checked. The program's own click command
parses it (an unknown option or a missing required one fails; a span of just a command's name,
`dagster asset materialize`, only has to name a real command), then:
- an asset selection (`--select`, `dg launch --assets`) resolves against `crm_assets.definitions`
  to at least one asset, its assets can share a run, and a selection with partitioned assets
  carries `--partition` or `--partition-range` naming real partitions (one without, neither);
- `-m` names an importable module, and `crm_assets.definitions` where assets or jobs are named;
  `dagster asset`/`job` commands name a code location at all;
- `--config-json` and `--tags` parse as JSON, and run config names ops of what the run executes
  and fits their config schema; `-j`/`--job` names a job; `dagster instance concurrency set`
  names a pool the steps hold; `-w`/`-y` files exist in the checkout (from its root, or as
  `/path/to/this/repo/...`) or are copied into the image by the Dockerfile (`/opt/dagster/...`);
- `make` targets exist in the Makefile.
The definitions are built once (the module import); nothing runs in a subprocess.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import json
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import click
import dagster as dg
import pytest

from crm_assets.config import load_source_config

REPO = Path(__file__).resolve().parent.parent
LOCATION = "crm_assets.definitions"
PROGRAMS = {"dagster", "dg", "make", "dagster-daemon", "dagster-webserver", "dagster-celery"}
REPO_PLACEHOLDER = "/path/to/this/repo/"
SOURCES = sorted(path.stem for path in (REPO / "configs").glob("*.yaml"))
SOURCE_PLACEHOLDER = re.compile(r"<source>|\$\{source\}|\$source\b")


@dataclass(frozen=True)
class DocCommand:
    where: str  # file:line
    words: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: {shlex.join(self.words)}"


# --- finding the commands ---------------------------------------------------------------------


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def commands_in_markdown(markdown: str, name: str) -> list[DocCommand]:
    found: list[DocCommand] = []
    prose: list[tuple[int, str]] = []
    fence, pending = None, None  # the open fence; a line continued with `\`: (number, text)
    for number, line in enumerate(markdown.splitlines(), 1):
        stripped = line.strip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is not None:
            start, text = pending or (number, "")
            text = f"{text} {stripped}".strip()
            if text.endswith("\\"):
                pending = (start, text[:-1])
                continue
            pending = None
            found += commands_in_text(text, f"{name}:{start}")
        else:
            prose.append((number, line))
    # Inline spans may run over a line break; each is reported at the line it opens on.
    text = "\n".join(line for _, line in prose)
    for match in re.finditer(r"(`+)(.+?)\1", text, re.S):
        number = prose[text.count("\n", 0, match.start())][0]
        found += commands_in_text(match.group(2).replace("\n", " "), f"{name}:{number}")
    return found


def commands_in_text(text: str, where: str) -> list[DocCommand]:
    """The commands of one shell line: each variant of its placeholders, each simple command."""
    variants = [SOURCE_PLACEHOLDER.sub(s, text) for s in SOURCES] if SOURCE_PLACEHOLDER.search(
        text) else [text]
    found = []
    for variant in variants:
        try:
            lexer = shlex.shlex(variant, posix=True, punctuation_chars=";&|")
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError:  # prose in backticks, not a shell line
            if program_words(variant.split()):
                raise AssertionError(f"{where}: cannot split `{variant}` as a shell line")
            continue
        simple: list[str] = []
        for token in [*tokens, ";"]:
            if token and set(token) <= set(";&|"):
                words = program_words(simple)
                if len(words) > 1:
                    found.append(DocCommand(where, tuple(words)))
                simple = []
            else:
                simple.append(token)
    return found


def program_words(words: list[str]) -> list[str]:
    """`words` from the program on, if one of PROGRAMS runs them; else []."""
    words = list(words)
    while words and (re.match(r"[A-Za-z_]\w*=", words[0]) or words[0] in ("do", "then", "else")):
        words.pop(0)
    if words[:2] in (["docker", "exec"], ["docker", "run"]):
        words = next((words[i:] for i in range(2, len(words)) if words[i] in PROGRAMS), [])
    if words and "/" in words[0] and Path(words[0]).parent.name == "bin":
        words[0] = Path(words[0]).name
    return words if words and words[0] in PROGRAMS else []


def doc_commands() -> list[DocCommand]:
    return [
        command
        for path in doc_files()
        for command in commands_in_markdown(path.read_text(), str(path.relative_to(REPO)))
    ]


# --- the project they are checked against -----------------------------------------------------


@functools.cache
def definitions() -> dg.Definitions:
    from crm_assets.definitions import defs

    return defs


ACCOUNTS_DOC = "docs/accounts.md"


def yaml_blocks(path: Path) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", path.read_text(), re.S | re.M)


@functools.cache
def accounts_definitions() -> dg.Definitions:
    """What docs/accounts.md's commands run against: the shipped configs, party_crm with the
    accounts of the chapter's example."""
    from crm_assets.definitions import build_definitions

    scratch = tempfile.mkdtemp(prefix="accounts_doc_")
    atexit.register(shutil.rmtree, scratch, True)
    configs_dir = Path(scratch) / "configs"
    shutil.copytree(REPO / "configs", configs_dir)
    party_crm = configs_dir / "party_crm.yaml"
    party_crm.write_text(party_crm.read_text() + "\n" + yaml_blocks(REPO / ACCOUNTS_DOC)[0])
    return build_definitions(configs_dir)


def definitions_for(command: DocCommand) -> dg.Definitions:
    return accounts_definitions() if command.where.startswith(ACCOUNTS_DOC) else definitions()


def pools(defs: dg.Definitions) -> set[str]:
    return {d.op.pool for d in [*defs.assets, *defs.asset_checks] if d.op.pool}


@functools.cache
def program_cli(program: str) -> click.Command:
    [point] = [e for e in entry_points(group="console_scripts") if e.name == program]
    main = point.load()
    return main if isinstance(main, click.Command) else sys.modules[main.__module__].cli


@functools.cache
def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    variables = dict(re.findall(r"^(?:export\s+)?(\w+)\s*[:?]?=\s*(.*?)\s*$", text, re.M))

    def expand(word: str) -> str:
        return re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), m.group(0)), word)

    heads = re.findall(r"^([^\s#.][^:=]*?):(?!=)", text, re.M)  # not .PHONY, not NAME := ...
    return {expand(target) for head in heads for target in head.split()}


# --- the checks -------------------------------------------------------------------------------


def problems(words: list[str] | tuple[str, ...], defs: dg.Definitions | None = None) -> list[str]:
    """What keeps `words` (a command from the program on) from running as written, against
    `defs` (the shipped code location's by default)."""
    defs = defs or definitions()
    words = list(words)
    placeholders = [w for w in words if re.search(r"<\w+>", w) or w == "..."]
    if placeholders:
        return [f"placeholder {placeholders} left in the command"]
    if words[0] == "make":
        targets = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        return [f"make: no target {t!r} in the Makefile" for t in targets if t not in make_targets()]

    command, path, rest = program_cli(words[0]), [words[0]], [local_path(w) for w in words[1:]]
    while isinstance(command, click.Group):
        if not rest or rest[0].startswith("-"):
            return [f"{' '.join(path)}: no subcommand given"]
        sub = command.get_command(click.Context(command, info_name=path[-1]), rest[0])
        if sub is None:
            return [f"{' '.join(path)}: no subcommand {rest[0]!r}"]
        command = sub
        path.append(rest.pop(0))
    try:
        params = command.make_context(path[-1], list(rest)).params
    except click.MissingParameter as error:
        if not rest:  # the command's name in prose, not a line to run
            return []
        return [f"{' '.join(path)}: {error.format_message()}"]
    except click.ClickException as error:
        return [f"{' '.join(path)}: {error.format_message()}"]

    found = []
    modules = [m for key in ("module_name", "includes", "app") for m in as_list(params.get(key))]
    found += [f"-m/-i/-A {m}: no such module" for m in modules if not importable(m)]
    selection = params.get("select") if path[1:3] == ["asset", "materialize"] else None
    selection = params.get("assets") if path[1:] == ["launch"] else selection
    job = params.get("job_name") or params.get("job")
    if path[1:2] in (["asset"], ["job"]):
        pointer = [params.get(k) for k in ("module_name", "python_file", "package_name", "workspace")]
        if not any(pointer):
            found.append(f"{' '.join(path)}: names no code location (-m {LOCATION})")
    if (selection or job) and modules and modules != [LOCATION]:
        found.append(f"-m {modules}: the assets and jobs are {LOCATION}'s")
    config = None
    for option in ("config_json", "tags"):
        if params.get(option):
            try:
                value = json.loads(params[option])
            except json.JSONDecodeError as error:
                found.append(f"--{option.replace('_', '-')} is not JSON: {error}")
                continue
            config = value if option == "config_json" else config
    if selection:
        found += selection_problems(
            selection, params.get("partition"), params.get("partition_range"), config, defs)
    elif job:
        found += job_problems(job, config, defs)
    if path[1:] == ["instance", "concurrency", "set"] and params["key"] not in pools(defs):
        found.append(f"no step holds pool {params['key']!r} (pools: {sorted(pools(defs))})")
    for file in [*as_list(params.get("workspace")), *as_list(params.get("config_yaml"))]:
        if not (REPO / file).is_file():  # an absolute path stays one
            found.append(f"{file}: no such file")
    return found


def selection_problems(
    selection: str,
    partition: str | None,
    partition_range: str | None,
    config: dict | None,
    defs: dg.Definitions,
) -> list[str]:
    """As `dagster asset materialize` (and `dg launch --assets`) read `selection`."""
    graph, repository = defs.resolve_asset_graph(), defs.get_repository_def()
    try:
        keys = dg.AssetSelection.from_coercible(selection.split(",")).resolve(graph)
    except Exception as error:
        return [f"--select {selection!r} does not resolve: {error}"]
    if not keys:
        return [f"--select {selection!r} selects no asset"]
    partitioned = sorted(key.to_user_string() for key in keys if graph.get(key).is_partitioned)
    job = repository.get_implicit_job_def_for_assets(keys)
    if job is None:
        return [f"--select {selection!r}: its assets' partitions differ, they cannot share a run"]
    if partitioned and not (partition or partition_range):
        return [f"--select {selection!r} includes partitioned assets ({len(partitioned)}, e.g. "
                f"{partitioned[0]}) and carries no --partition or --partition-range: the CLI "
                "answers \"Asset has partitions, but no '--partition' option was provided\""]
    if (partition or partition_range) and not partitioned:
        return [f"--select {selection!r} selects no partitioned asset, yet names a partition"]
    found = []
    bounds = [partition] if partition else partition_range.split("...") if partition_range else []
    if partition_range and len(bounds) != 2:
        found.append(f"--partition-range {partition_range!r} is not <start>...<end>")
    for bound in bounds if len(bounds) <= 2 else []:
        try:
            job.validate_partition_key(bound, selected_asset_keys=keys, context=None)
        except Exception as error:
            found.append(f"partition {bound!r}: {error}")
    if partition_range and any(
        (graph.get(key).backfill_policy or dg.BackfillPolicy.multi_run()).policy_type
        != dg.BackfillPolicy.single_run().policy_type
        for key in keys
    ):
        found.append("--partition-range needs every selected asset to backfill in a single run")
    if config is not None:
        found += run_config_problems(job.get_subset(asset_selection=set(keys)), config)
    return found


def job_problems(name: str, config: dict | None, defs: dg.Definitions) -> list[str]:
    try:
        job = defs.resolve_job_def(name)
    except Exception as error:
        return [f"-j {name}: {error}"]
    return run_config_problems(job, config) if config is not None else []


def run_config_problems(job: dg.JobDefinition, config: dict) -> list[str]:
    ops = {node.name for node in job.graph.nodes}
    unknown = sorted(set(config.get("ops", {})) - ops)
    if unknown:
        return [f"run config names ops {unknown}; the run executes {sorted(ops)}"]
    try:
        dg.validate_run_config(job, config)
    except Exception as error:
        return [f"run config does not fit {job.name}: {error}"]
    return []


def local_path(word: str) -> str:
    """`word`, where it is a path of the docs' machines, as the file of this checkout it is:
    `/path/to/this/repo/...`, or a file the Dockerfile copies into the image."""
    if word.startswith(REPO_PLACEHOLDER):
        return str(REPO / word[len(REPO_PLACEHOLDER):])
    copies = re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s+(\S+)\s*$",
                        (REPO / "Dockerfile").read_text(), re.M)
    return next((str(REPO / source) for source, target in copies if target == word), word)


def as_list(value) -> list[str]:
    return [] if not value else [value] if isinstance(value, str) else list(value)


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# --- the tests --------------------------------------------------------------------------------

DOC_COMMANDS = doc_commands()


@pytest.fixture(autouse=True, scope="module")
def from_the_repo_root():
    """Where the docs run their commands: relative files (`-w workspace.yaml`) are the repo's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        yield


def test_the_docs_hold_the_commands():
    readme = {c.words for c in DOC_COMMANDS if c.where.startswith("README.md")}
    assert {("make", "demo"), ("make", "test")} <= readme
    assert len(DOC_COMMANDS) >= 40, [str(c) for c in DOC_COMMANDS]


@pytest.mark.parametrize("command", DOC_COMMANDS, ids=str)
def test_doc_command_runs_as_written(command: DocCommand):
    assert problems(command.words, definitions_for(command)) == [], str(command)


def test_the_readmes_account_is_five_lines_of_yaml_that_load_as_two_accounts(tmp_path: Path):
    [block] = yaml_blocks(REPO / "README.md")
    assert len(block.splitlines()) <= 5, block
    party_crm = tmp_path / "party_crm.yaml"
    party_crm.write_text((REPO / "configs" / "party_crm.yaml").read_text() + "\n" + block)
    loads = load_source_config(party_crm).account_loads()
    assert [load.label for load in loads] == ["party_crm/eu", "party_crm/us"]
    assert [load.auth.env["token"] for load in loads] == [
        "PARTY_CRM_EU_BEARER_TOKEN", "PARTY_CRM_US_BEARER_TOKEN"
    ]
    readme = (REPO / "README.md").read_text()
    assert all(f"`{load.auth.env['token']}`" in readme for load in loads)


@pytest.mark.parametrize(
    ("line", "reported"),
    [
        ("dagster asset materialize -m crm_assets.definitions --select '*'",
         "no '--partition' option was provided"),
        (".venv/bin/dg launch --assets lead_crm/windows/lead", "no --partition"),
        ("dagster asset materialize -m crm_assets.definitions --select group:nope",
         "selects no asset"),
        ("dagster asset materialize -m crm_assets.definitions --select lead_crm/nope",
         "does not resolve"),
        ("dagster asset materialize -m crm_assets.definitions --select lead_crm/windows/lead "
         "--partition 2025-03-02", "partition '2025-03-02'"),
        ("dagster asset materialize -m crm_assets.definitions --select group:lead_crm "
         "--partition 2025-03-01", "names a partition"),
        ("dagster asset materialize -m crm_assets.definitions --select group:lead_crm "
         """--config-json '{"ops": {"deal_crm": {"config": {"full_refresh": true}}}}'""",
         "names ops ['deal_crm']"),
        ("dagster asset materialize -m crm_assets.definitions --select group:lead_crm "
         """--config-json '{"ops": {"lead_crm": {"config": {"full_refesh": true}}}}'""",
         "does not fit"),
        ("dagster asset materialize -m crm_assets.definitions --select group:lead_crm "
         "--config-json '{ops'", "not JSON"),
        ("dagster asset materialize --select group:lead_crm", "names no code location"),
        ("dagster asset materialize -m crm_asets.definitions --select group:lead_crm",
         "no such module"),
        ("dagster asset materialize -m crm_assets.definitions --selct group:lead_crm",
         "No such option"),
        ("dagster asset materialise -m crm_assets.definitions --select group:lead_crm",
         "no subcommand 'materialise'"),
        ("dagster job execute -m crm_assets.definitions -j lead_crm_jobs", "Could not find job"),
        ("dagster instance concurrency set crm_source/nope 1", "no step holds pool"),
        ("dagster-daemon run -w nope.yaml", "does not exist"),
        ("dagster-webserver -w /opt/dagster/nope.yaml", "does not exist"),
        ("make demos", "no target 'demos'"),
        ("dagster asset materialize -m crm_assets.definitions --select <resource>",
         "placeholder"),
    ],
)
def test_the_checker_reports_a_command_that_would_fail(line: str, reported: str):
    [command] = commands_in_text(line, "case")
    assert any(reported in problem for problem in problems(command.words)), problems(
        command.words)


def test_commands_are_found_in_blocks_spans_and_placeholders():
    markdown = "\n".join([
        "Run `make demo`, or `dagster asset materialize -m crm_assets.definitions",
        "--select group:<source>`; `dagster/row_count` and `dg` are not commands.",
        "```bash",
        "docker exec crm-user-code dagster api grpc-health-check -p 4000   # comment",
        ".venv/bin/dg launch --assets lead_crm/windows/lead \\",
        "    --partition 2025-03-01",
        "sleep 2; set -a; VIRTUAL_ENV=.venv make dev",
        "```",
    ])
    found = [(c.where, shlex.join(c.words)) for c in commands_in_markdown(markdown, "x.md")]
    assert found == [
        ("x.md:4", "dagster api grpc-health-check -p 4000"),
        ("x.md:5", "dg launch --assets lead_crm/windows/lead --partition 2025-03-01"),
        ("x.md:7", "make dev"),
        ("x.md:1", "make demo"),
        *(("x.md:1", f"dagster asset materialize -m crm_assets.definitions --select group:{s}")
          for s in SOURCES),
    ]


def test_the_readme_shows_the_real_dlt_assets_call():
    """The README's `@dlt_assets(...)` is the code's, argument for argument."""

    def call(text: str) -> str:
        [found] = re.findall(r"^\s*@dlt_assets\((.*?)^\s*\)", text, re.S | re.M)
        return " ".join(found.split())

    [code] = [p for p in (REPO / "crm_assets").rglob("*.py") if "@dlt_assets(" in p.read_text()]
    assert call((REPO / "README.md").read_text()) == call(code.read_text())
