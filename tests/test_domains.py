"""A custom domain's name, as `shared.domains.normalise` makes it (pure), and the
verifier's resolver setting: names come out lower case, punycode, without a final dot;
anything that is not a plain host name of several labels is refused with a code; so are
the platform's names and the names under them. (The API's answers to hostile names are
in tests/gateway/test_domains.py.)"""

from __future__ import annotations

import pytest

from services.reaper.settings import ReaperSettings, parse_resolvers
from shared.domains import DomainRefused, challenge_name, normalise

RESERVED = ("stores.example.net", "dashboard.example.net")


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Shop.Example.ORG.", "shop.example.org"),
        ("  shop.example.org  ", "shop.example.org"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("\uff33\uff28\uff2f\uff30.example.org", "shop.example.org"),  # full-width, NFKC
        ("example.net", "example.net"),  # the parent of a reserved name is not reserved
        ("notstores.example.net", "notstores.example.net"),
    ],
)
def test_a_domain_is_kept_lower_case_in_punycode_without_a_final_dot(raw: str, normal: str) -> None:
    assert normalise(raw, RESERVED) == normal


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("shop.stores.example.net", "reserved_domain"),
        ("STORES.example.net.", "reserved_domain"),
        ("dashboard.example.net", "reserved_domain"),
        ("shop..example.org", "invalid_domain"),
        ("shop.example.org..", "invalid_domain"),
        ("shop.123", "invalid_domain"),
        ("10.0.0.1", "ip_address"),
        ("[2001:db8::1]", "ip_address"),
        ("shop.*.example.org", "wildcard_domain"),
        ("g\u043e\u043egle.com", "mixed_script_label"),
    ],
)
def test_a_name_that_is_no_stores_domain_is_refused_with_a_code(raw: str, code: str) -> None:
    with pytest.raises(DomainRefused) as refused:
        normalise(raw, RESERVED)
    assert refused.value.code == code


def test_the_challenge_record_is_under_the_domain() -> None:
    assert challenge_name("shop.example.org") == "_storefleet-challenge.shop.example.org"


def test_resolvers_are_addresses_with_an_optional_port() -> None:
    assert parse_resolvers("10.0.0.2, 127.0.0.1:5353,[::1]:53, ::1") == (
        ("10.0.0.2", 53),
        ("127.0.0.1", 5353),
        ("::1", 53),
        ("::1", 53),
    )
    assert parse_resolvers("") == ()
    for bad in ("dns.example.org", "127.0.0.1:0", "127.0.0.1:x"):
        with pytest.raises(ValueError, match=r"resolver|port"):
            parse_resolvers(bad)


def test_the_verifier_reads_its_resolvers_and_windows_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOREFLEET_DNS_RESOLVERS", "127.0.0.1:5300,10.0.0.2")
    monkeypatch.setenv("STOREFLEET_DOMAIN_VERIFY_TTL_HOURS", "12")
    monkeypatch.setenv("STOREFLEET_DOMAIN_RECHECK_HOURS", "6")

    settings = ReaperSettings()

    assert settings.resolvers() == (("127.0.0.1", 5300), ("10.0.0.2", 53))
    assert (settings.domain_verify_ttl_hours, settings.domain_recheck_hours) == (12, 6)
