"""The docs against the project: every relative link, #anchor and image in README.md and
docs/*.md resolves, and every flag a page gives a tools/*.py command exists in that tool's
--help, so the pages cannot drift from the files and the tools."""
import glob
import os
import re
import subprocess
import sys
from typing import Dict, List, Set, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = sorted([os.path.join(ROOT, "README.md"), os.path.join(ROOT, "CHANGELOG.md")]
               + glob.glob(os.path.join(ROOT, "docs", "*.md")))
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _without_code(text: str) -> str:
    """The page with fenced code blocks and inline code removed (links there are not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: str) -> Set[str]:
    """Every heading anchor of a page, numbered as GitHub numbers repeats (``name-1``)."""
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"^```.*?^```", "", f.read(), flags=re.S | re.M)
    seen: Dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def broken_links(path: str) -> List[str]:
    """``"page: target (why)"`` for every relative link or image of ``path`` that does not
    resolve: a missing file or folder, or an #anchor the target page does not have."""
    with open(path, encoding="utf-8") as f:
        text = _without_code(f.read())
    wrong = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (os.path.normpath(os.path.join(os.path.dirname(path), file_part))
                    if file_part else path)
        where = f"{os.path.relpath(path, ROOT)}: {target}"
        if not os.path.exists(resolved):
            wrong.append(f"{where} (no such file)")
        elif anchor and (not resolved.endswith(".md") or anchor not in anchors(resolved)):
            wrong.append(f"{where} (no heading with that anchor)")
    return wrong


def commands(path: str) -> List[Tuple[str, List[str]]]:
    """``(tool, [flags])`` for every tools/*.py command of a page: each line of its shell
    code blocks (continuation lines joined), and inline spans that start with ``python`` or
    ``tools/``."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines, block, language = [], None, ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if block is None:
                block, language = [], line.strip()[3:]
            else:
                if language in ("", "bash", "sh"):
                    lines += "\n".join(block).replace("\\\n", " ").splitlines()
                block = None
        elif block is not None:
            block.append(line)
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    lines += [span.replace("\n", " ")
              for span in re.findall(r"`((?:python\s|tools/)[^`]*)`", prose)]
    found = []
    for line in lines:
        for tool, rest in re.findall(r"tools/(\w+)\.py((?:\s+(?!&&|;|\|)\S+)*)", line):
            found.append((tool, re.findall(r"(?<!\S)(--[a-z][\w-]*)", rest)))
    return found


def test_the_readme_is_a_front_page():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert len(readme.splitlines()) <= 300
    for command in ("make demo", "make test", "tools/train.py", "tools/eval.py",
                    "tools/export.py", "tools/predict.py"):
        assert command in readme, command
    assert "## Limitations" in readme and "LICENSE" in readme


@pytest.mark.parametrize("page", PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_link_anchor_and_image_resolves(page):
    assert not broken_links(page)


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading, twice\n\n"
                                       "## A `code` heading, twice\n")
    (tmp_path / "figure.png").write_bytes(b"")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n[ok](other.md#other-page) [ok](other.md#a-code-heading-twice-1) "
                    "[ok](#page) ![ok](figure.png) [web](https://example.org/x)\n"
                    "[gone](missing.md) [bad anchor](other.md#no-such-heading) "
                    "![gone](nothing.png) [bad local](#nowhere)\n"
                    "```bash\n[not a link](in-code.md)\n```\n")
    wrong = broken_links(str(page))
    assert [w.split(": ", 1)[1] for w in wrong] == [
        "missing.md (no such file)", "other.md#no-such-heading (no heading with that anchor)",
        "nothing.png (no such file)", "#nowhere (no heading with that anchor)"]


def test_every_flag_the_pages_use_is_in_the_tools_help():
    helps: Dict[str, str] = {}
    wrong = []
    for page in PAGES:
        for tool, flags in commands(page):
            if tool not in helps:
                done = subprocess.run([sys.executable, os.path.join(ROOT, "tools", f"{tool}.py"),
                                       "--help"], capture_output=True, text=True, timeout=120,
                                      cwd=ROOT)
                assert done.returncode == 0, f"tools/{tool}.py --help: {done.stderr[-500:]}"
                helps[tool] = done.stdout
            wrong += [f"{os.path.relpath(page, ROOT)}: tools/{tool}.py {flag}" for flag in flags
                      if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helps[tool])]
    assert not wrong, "flags the tools do not have: " + ", ".join(sorted(set(wrong)))


def test_no_page_tells_the_story_of_the_work():
    pattern = re.compile(r"issue [0-9]+|runs/p[0-9]|runs/ft/|this session|co-tenant|busy machine",
                         re.I)
    places = PAGES + [p for d in ("lotr_gluon", "tools", "experiments")
                      for p in glob.glob(os.path.join(ROOT, d, "**", "*.*"), recursive=True)
                      if p.endswith((".py", ".yaml", ".md"))]
    found = [f"{os.path.relpath(p, ROOT)}: {m.group(0)}" for p in places
             for m in pattern.finditer(open(p, encoding="utf-8").read())]
    assert not found, found
