"""The docs keep their word: what README.md, docs/**/*.md and export/README.md tell a reader to run exists.

Every command in a fenced ``bash`` block, and every inline ``python …`` code span, is parsed:
``python -m X`` names a module that can be found (a package needs a ``__main__``), ``python tools/x.py``
names a file, ``--flagfile configs/y.cfg`` (or ``=``) names a file, ``pip install -r F`` names a file and
``python -m pytest PATH`` names a test path. Every relative link ``[…](path#anchor)`` resolves from its
file's folder, and an anchor into a markdown page names one of its headings (GitHub's slugs). A renamed tool
then breaks this test, not a reader's first try.

Nothing is imported: this project's modules are found on disk, others with ``importlib.util.find_spec``
(no TensorFlow, well under a second).
"""

import importlib.util
import pathlib
import re
import shlex

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
LOCAL_PACKAGES = {"awh_tf", "tools", "tests", "export"}
FENCE = re.compile(r"^[ \t]*(```+|~~~+)[ \t]*([\w+-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S)
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
INLINE_CODE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.I)
PLACEHOLDER = re.compile(r"[<>{}\[\]*|…]|\.\.\.")
SEPARATORS = {"&&", "||", ";", "|"}


def doc_files(root=ROOT):
    """The pages a reader is sent to: the README, every page under docs/, the export page."""
    files = [root / "README.md", *sorted((root / "docs").rglob("*.md")), root / "export" / "README.md"]
    return [f for f in files if f.exists()]


def _without_code(text):
    """The text with fenced blocks and inline code blanked out (links and headings in code are not links)."""
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return INLINE_CODE.sub(" ", text)


def shell_commands(text):
    """Each command line shown: the fenced shell blocks' lines (continuations joined) and inline ``python …``."""
    commands = []
    for m in FENCE.finditer(text):
        if m.group(2).lower() not in SHELL_LANGUAGES:
            continue
        for line in re.sub(r"\\\n", " ", m.group(3)).splitlines():
            line = line.strip()
            if line.startswith("$ "):
                line = line[2:]
            if line:
                commands.append(line)
    for m in INLINE_CODE.finditer(FENCE.sub("", text)):
        code = " ".join(m.group(1).split())
        if re.match(r"python3? ", code):
            commands.append(code)
    return commands


def _words(line):
    try:
        return shlex.split(line, comments=True)
    except ValueError:  # an unbalanced quote in prose-like code: fall back to whitespace
        return line.split("#")[0].split()


def _simple_commands(line):
    """``a && b | c; d`` → [[a…], [b…], [c…], [d…]], leading ``VAR=value`` assignments dropped."""
    commands, current = [], []
    for word in _words(line) + [";"]:
        if word in SEPARATORS:
            while current and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", current[0]):
                current.pop(0)
            if current:
                commands.append(current)
            current = []
        else:
            current.append(word)
    return commands


def _concrete(value):
    return value and not PLACEHOLDER.search(value) and not value.startswith("$")


def module_problem(name, root=ROOT):
    """Why ``python -m name`` would fail to start, or None. Nothing is imported."""
    parts = name.split(".")
    if parts[0] in LOCAL_PACKAGES or (root / parts[0]).is_dir() or (root / f"{parts[0]}.py").is_file():
        base = root.joinpath(*parts)
        if base.with_suffix(".py").is_file():
            return None
        if (base / "__init__.py").is_file():
            return None if (base / "__main__.py").is_file() else f"{name} is a package without __main__.py"
        return f"no module {name} (no {base.relative_to(root)}.py or {base.relative_to(root)}/)"
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as e:
        return f"no module {name} ({e})"
    if spec is None:
        return f"no module {name}"
    if spec.submodule_search_locations is not None and importlib.util.find_spec(f"{name}.__main__") is None:
        return f"{name} is a package without __main__"
    return None


def command_problems(line, root=ROOT):
    """What ``line`` names that does not exist: a list of one-line problems (empty when it is fine)."""
    problems = []
    for words in _simple_commands(line):
        for i, word in enumerate(words):
            path = None
            if word == "--flagfile" and i + 1 < len(words):
                path = words[i + 1]
            elif word.startswith("--flagfile="):
                path = word.split("=", 1)[1]
            if path and _concrete(path) and not (root / path).is_file():
                problems.append(f"--flagfile {path}: no such file")
        program = pathlib.PurePath(words[0]).name
        if program in ("pip", "pip3") or (program.startswith("python") and words[1:3] == ["-m", "pip"]):
            for i, word in enumerate(words[:-1]):
                if word in ("-r", "--requirement") and _concrete(words[i + 1]) and not (root / words[i + 1]).is_file():
                    problems.append(f"-r {words[i + 1]}: no such file")
        if not re.fullmatch(r"python(3(\.\d+)?)?", program) or len(words) < 2:
            continue
        if words[1] == "-m" and len(words) > 2:
            module = words[2]
            problem = module_problem(module, root)
            if problem:
                problems.append(problem)
            elif module == "pytest":
                for word in words[3:]:
                    target = word.split("::")[0]
                    if word.startswith("-") or "/" not in target or not _concrete(target):
                        continue
                    if not (root / target).exists():
                        problems.append(f"pytest {target}: no such file or folder")
        elif words[1].endswith(".py") and _concrete(words[1]) and not (root / words[1]).is_file():
            problems.append(f"{words[1]}: no such file")
    return problems


def slug(heading):
    """GitHub's anchor for a heading: its text, lower case, without punctuation, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links → their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(text):
    """Every anchor a page offers: its headings' slugs (repeats get -1, -2, …) and explicit <a id/name>."""
    seen, found = {}, set()
    for m in HEADING.finditer(FENCE.sub("", text)):
        s = slug(m.group(2))
        n = seen.get(s, 0)
        seen[s] = n + 1
        found.add(s if n == 0 else f"{s}-{n}")
    return found | set(HTML_ANCHOR.findall(text))


def link_problems(page, root=ROOT):
    """The relative links of ``page`` that lead nowhere: a list of one-line problems."""
    text = page.read_text(encoding="utf-8")
    problems = []
    for m in LINK.finditer(_without_code(text)):
        target = m.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:, …
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            problems.append(f"link {target}: {path} does not exist")
        elif anchor and dest.is_file() and dest.suffix == ".md" and anchor not in anchors(dest.read_text("utf-8")):
            problems.append(f"link {target}: no heading #{anchor} in {dest.name}")
    return problems


def page_problems(page, root=ROOT):
    """Everything wrong with one page: its commands' missing modules, scripts, flag files and its dead links."""
    text = page.read_text(encoding="utf-8")
    name = page.relative_to(root) if page.is_relative_to(root) else page
    problems = [f"{name}: `{line}`: {p}" for line in shell_commands(text) for p in command_problems(line, root)]
    return problems + [f"{name}: {p}" for p in link_problems(page, root)]


@pytest.mark.parametrize("page", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_and_link_of_the_docs_exists(page):
    problems = page_problems(page)
    assert not problems, "\n".join(problems)


def test_the_pages_show_commands_and_the_checker_sees_them():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = shell_commands(readme)
    assert any("python -m awh_tf.train --flagfile configs/demo.cfg" in c for c in commands)
    assert sum(len(shell_commands(p.read_text(encoding="utf-8"))) for p in doc_files()) > 30


def test_the_ci_test_command_is_still_between_its_markers():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- test-command -->\n```bash\n(.+)\n```\n<!-- /test-command -->", readme)
    assert block and 'python -m pytest -m "not slow" -q' in block.group(1)


# The checker itself: a page with one of each mistake fails, naming each.

BROKEN = """# A page

## Real heading

```bash
python -m awh_tf.train --flagfile configs/demo.cfg
python -m awh_tf.no_such_module --flagfile=configs/no_such.cfg
python tools/no_such_tool.py --x 1 && python -m pytest tests/no_such_test.py -q
pip install -r requirements-none.txt
python -m awh_tf.train --flagfile configs/<experiment>.cfg   # a placeholder is not checked
```

Inline: `python tools/renamed.py --out x`, a [good link](other.md#real-heading), a [dead link](missing.md),
a [dead anchor](other.md#no-such-heading), a [self anchor](#real-heading), an [external](https://example.com/x).
"""


@pytest.fixture
def fake_repo(tmp_path):
    (tmp_path / "awh_tf").mkdir()
    (tmp_path / "awh_tf" / "__init__.py").write_text("")
    (tmp_path / "awh_tf" / "train.py").write_text("")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "demo.cfg").write_text("")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## Real heading\n")
    return tmp_path


def test_the_checker_names_each_missing_module_script_file_and_link(fake_repo):
    page = fake_repo / "docs" / "page.md"
    page.write_text(BROKEN)
    problems = "\n".join(page_problems(page, fake_repo))
    for expected in ("no module awh_tf.no_such_module", "--flagfile configs/no_such.cfg: no such file",
                     "tools/no_such_tool.py: no such file", "pytest tests/no_such_test.py: no such file or folder",
                     "-r requirements-none.txt: no such file", "tools/renamed.py: no such file",
                     "link missing.md: missing.md does not exist",
                     "link other.md#no-such-heading: no heading #no-such-heading in other.md"):
        assert expected in problems
    assert len(page_problems(page, fake_repo)) == 8, problems  # the good lines, links and the placeholder pass


def test_the_checker_passes_a_clean_page_and_finds_third_party_modules(fake_repo):
    page = fake_repo / "README.md"
    page.write_text("# T\n\n```bash\npython3 -m venv .venv && . .venv/bin/activate && python -m pytest -q\n```\n"
                    "See [other](docs/other.md#real-heading).\n")
    assert page_problems(page, fake_repo) == []
    assert module_problem("json.tool", fake_repo) is None
    assert "without __main__" in module_problem("json", fake_repo)
    assert module_problem("no_such_package_xyz", fake_repo) == "no module no_such_package_xyz"
    (fake_repo / "awh_tf" / "data").mkdir()
    (fake_repo / "awh_tf" / "data" / "__init__.py").write_text("")
    assert "without __main__" in module_problem("awh_tf.data", fake_repo)


@pytest.mark.parametrize("heading, expected", [
    ("The demo (`configs/demo.cfg`, procedural benchmark)", "the-demo-configsdemocfg-procedural-benchmark"),
    ("ONNX — `pose.onnx`", "onnx--poseonnx"),
    ("Does the critic help? (procedural benchmark, weak labels that are weak)",
     "does-the-critic-help-procedural-benchmark-weak-labels-that-are-weak"),
    ("The real domain's labels", "the-real-domains-labels"),
])
def test_slug_is_githubs(heading, expected):
    assert slug(heading) == expected
