"""Store names an attacker would try: each one is text a shell, a command-line tool, a
YAML parser or a Helm template could mistake for syntax. The gateway accepts all of
these (`ACCEPTED`); `OPTION_LIKE` ones start with `-` and are refused; `CONTROL` ones
hold characters the gateway refuses but a forged event could still carry, so the charts
and the setup script must pass them through unharmed too."""

from __future__ import annotations

ACCEPTED = (
    'Bob\'s "Best" Shop',
    "$(touch /tmp/pwned) shop",
    "`id` backtick shop",
    "${HOME} and $STORE_URL shop",
    "{{ .Values.secretName }} shop",
    '{{ fail "boom" }} shop',
    "&a anchored shop *a",
    "*a alias shop",
    "! tagged: {a: [b]} # shop",
    "shop --exec=sleep(900);",
    "%s %n %% printf shop",
    "; rm -rf / # semicolon shop",
    "\\ backslash \\n shop",
    "🛒" * 35 + "store",
)
OPTION_LIKE = ("--exec=sleep(900);", "-x shop", "  --title=evil shop")
CONTROL = ("line one\nline two shop", "tab\tand\rreturn shop")
EVERY = (*ACCEPTED, *OPTION_LIKE, *CONTROL)
