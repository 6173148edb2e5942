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


def _run_setup(
    tmp_path: Path, home: str
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """The whole setup script with wp-cli and php stood in for: `wp option get home`
    answers `home` (a restored database's address), every call's arguments are logged."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls"
    (bin_dir / "wp").write_text(
        '#!/bin/sh\nfor a in "$@"; do printf "%s\\037" "$a"; done >> "$CALLS"\necho >> "$CALLS"\n'
        "cat > /dev/null\n"
        'case "$1 $2" in "option get") printf "%s\\n" "$HOME_URL" ;; '
        '"plugin get") echo "$WOOCOMMERCE_VERSION" ;; esac\n'
    )
    (bin_dir / "php").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("wp", "php"):
        (bin_dir / tool).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "CALLS": str(log),
        "HOME_URL": home,
        "STORE_URL": "http://clone-1.stores.localhost",
        "STORE_NAME": "Clone",
        "ADMIN_USER": "storeadmin",
        "ADMIN_PASSWORD": "new-secret",
        "ADMIN_EMAIL": "a@example.com",
        "STORE_COUNTRY": "DE",
        "STORE_CURRENCY": "EUR",
        "WOOCOMMERCE_VERSION": "10.2.2",
    }
    done = subprocess.run(["sh", str(SCRIPT)], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    calls = (
        [line.split("\x1f")[:-1] for line in log.read_text().splitlines()] if log.exists() else []
    )
    return done, calls


def test_a_restored_or_cloned_database_is_moved_to_this_stores_address_and_password(
    tmp_path: Path,
) -> None:
    done, calls = _run_setup(tmp_path, "http://shop-1.stores.localhost")

    assert done.returncode == 0, done.stderr
    assert [
        "search-replace",
        "http://shop-1.stores.localhost",
        "http://clone-1.stores.localhost",
        "--all-tables-with-prefix",
        "--skip-columns=guid",
        "--precise",
    ] in calls
    assert ["user", "update", "storeadmin", "--prompt=user_pass"] in calls
    assert not any("new-secret" in word for call in calls for word in call)


@pytest.mark.parametrize("home", ["--exec=system('id');", "-x", "$(id)", "javascript:x"])
def test_an_address_in_the_database_that_is_not_a_url_never_reaches_wp_cli(
    tmp_path: Path, home: str
) -> None:
    done, calls = _run_setup(tmp_path, home)

    assert done.returncode != 0
    assert "not a URL" in done.stdout + done.stderr
    assert not any(call and call[0] == "search-replace" for call in calls)
    assert not any(home in word for call in calls for word in call[2:])
