"""The WooCommerce setup script never hands a value from its environment to a command as
an argument of its own, where wp-cli would read one starting with `-` as an option
(`--exec=<php>` runs code): such values reach wp-cli on stdin or glued to their option
(`--title=...`). Checked two ways: by reading the script, and by running its own lines
with a real shell, each hostile name arriving byte for byte where wp-cli would read it."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.hostile import EVERY

SCRIPT = Path(__file__).resolve().parents[2] / "charts/engines/woocommerce/files/setup.sh"
# The owner's text, and the values the chart fills from the operator's settings.
OUTSIDE_VALUES = ("STORE_NAME", "ADMIN_EMAIL", "STORE_COUNTRY", "STORE_CURRENCY")
_REFERENCE = re.compile(r"\$\{?(" + "|".join(OUTSIDE_VALUES) + r")\b")
_GLUED = re.compile(r"^--[a-z_-]+=")
_SEPARATORS = {";", "&&", "||", "|", "&", "\n"}


def commands(script: str) -> Iterator[list[str]]:
    """Each simple command of the script as its words, quotes removed."""
    lexer = shlex.shlex(script.replace("\\\n", " "), posix=True, punctuation_chars=";&|\n")
    lexer.whitespace = " \t\r"
    words: list[str] = []
    for token in lexer:
        if token in _SEPARATORS or set(token) <= set(";&|\n"):
            if words:
                yield words
            words = []
        else:
            words.append(token)
    if words:
        yield words


def loose_arguments(words: list[str]) -> list[str]:
    """The words of one command that carry an outside value where a tool may parse it:
    anything but `--option=<value>` and the data arguments of `printf <literal format>`."""
    loose = []
    for at, word in enumerate(words[1:], start=1):
        if not _REFERENCE.search(word) or _GLUED.match(word):
            continue
        if words[0] == "printf" and at >= 2 and "$" not in words[1]:
            continue
        loose.append(word)
    return loose


def test_no_outside_value_stands_as_an_argument_in_the_setup_script() -> None:
    found = {
        " ".join(words): loose
        for words in commands(SCRIPT.read_text())
        if (loose := loose_arguments(words))
    }

    assert found == {}


def test_the_reader_of_the_script_sees_a_value_standing_alone() -> None:
    # The check above must be able to fail: the line the script had before.
    words = next(commands('wp option update blogname "$STORE_NAME"\n'))
    assert loose_arguments(words) == ["$STORE_NAME"]


def _store_name_lines() -> list[str]:
    lines = [line for line in SCRIPT.read_text().splitlines() if "$STORE_NAME" in line]
    return [line for line in lines if "wp option update" in line]


@pytest.mark.parametrize("shell", ["bash", "sh"])
@pytest.mark.parametrize("name", EVERY)
def test_each_hostile_name_reaches_wp_cli_byte_for_byte_on_stdin(
    tmp_path: Path, shell: str, name: str
) -> None:
    lines = _store_name_lines()
    assert lines, "the setup script no longer sets the store's name with wp option update"
    stub = tmp_path / "bin" / "wp"
    stub.parent.mkdir()
    # wp-cli's stand-in: stdin into a file, its arguments into another.
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$SINK.args"\nexec cat > "$SINK"\n')
    stub.chmod(0o755)
    sink = tmp_path / "value"
    for line in lines:
        done = subprocess.run(
            [shutil.which(shell) or shell, "-c", f"set -eu\n{line}"],
            env={"PATH": f"{stub.parent}:/usr/bin:/bin", "SINK": str(sink), "STORE_NAME": name},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert sink.read_bytes() == name.encode()
        assert name not in (tmp_path / "value.args").read_text()
