"""The README's commands against the tools: every flag a code block gives a tools/*.py
command exists in that tool's --help, so the README cannot drift from the tools."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _commands():
    """``(tool, [flags])`` for every tools/*.py command in the README: each line of its shell
    code blocks (continuation lines joined), and inline spans that start with ``python`` or
    ``tools/``."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
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


def test_the_readme_shows_commands():
    tools = {tool for tool, _ in _commands()}
    assert {"train", "eval", "export", "predict", "reproduce", "benchmark"} <= tools


def test_every_flag_the_readme_uses_is_in_the_tools_help():
    helps = {}
    wrong = []
    for tool, flags in _commands():
        if tool not in helps:
            done = subprocess.run([sys.executable, os.path.join(ROOT, "tools", f"{tool}.py"),
                                   "--help"], capture_output=True, text=True, timeout=120,
                                  cwd=ROOT)
            assert done.returncode == 0, f"tools/{tool}.py --help: {done.stderr[-500:]}"
            helps[tool] = done.stdout
        wrong += [f"tools/{tool}.py {flag}" for flag in flags
                  if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helps[tool])]
    assert not wrong, "README flags the tools do not have: " + ", ".join(sorted(set(wrong)))
