"""API tokens in a site file and on the command line: named errors, never the token itself.

A token is written out through `${ENV}` (kept only as its SHA-256 once read) or as
the hash `telephony token hash` prints; the API listens beyond loopback only with
tokens.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_secrets_in_messages import BREAKAGES

from telephony import cli
from telephony.config import ConfigError, parse_site
from telephony.config.tokens import check_token, parse_hash, scrypt, sha256

ENV = {"TELEPHONY_AMI_SECRET": "a-long-ami-secret", "ASA_API_TOKEN": "asa-0123456789abcdef",
       "BOSS_API_TOKEN": "boss-0123456789abcdef"}
# A digit and symbols, so that it cannot turn up in a message by coincidence.
SECRET = "Tk7#q!Zp9&wL2@xV5%"


def with_api(demo_data: dict[str, Any], api: dict[str, Any]) -> str:
    demo_data["api"] = api
    return yaml.safe_dump(demo_data, allow_unicode=True, sort_keys=False)


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_site(text, ENV if env is None else env)
    return [str(p) for p in caught.value.problems]


# -- what a site file may say ------------------------------------------------------------------

def test_tokens_from_the_environment_and_hashes_are_read(demo_data: dict[str, Any]) -> None:
    stored = scrypt("chen-0123456789abcdef")
    site = parse_site(with_api(demo_data, {"host": "0.0.0.0", "tokens": [
        {"agent": "asa", "token": "${ASA_API_TOKEN}"},
        {"agent": "chen", "token_hash": stored.text()},
        {"supervisor": "Eva Berg", "token_hash": sha256("eva-0123456789abcdef").text()},
    ]}), ENV)
    asa, chen, eva = site.api.tokens
    assert (asa.agent, asa.supervisor, chen.agent, eva.supervisor) == (
        "asa", None, "chen", "Eva Berg")
    assert asa.digest == sha256(ENV["ASA_API_TOKEN"])  # only the hash is kept
    assert chen.digest == stored
    assert eva.digest.matches("eva-0123456789abcdef")


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_a_loopback_host_needs_no_tokens(demo_data: dict[str, Any], host: str) -> None:
    assert parse_site(with_api(demo_data, {"host": host}), ENV).api.host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "2001:db8::1"])
def test_a_host_beyond_loopback_without_tokens_is_refused(
    demo_data: dict[str, Any], host: str
) -> None:
    assert problems(with_api(demo_data, {"host": host})) == [
        (f"api.host: {host} is reachable from other machines: give api.tokens (anyone "
        "reaching it could change anything) or bind to 127.0.0.1")
    ]


def test_a_host_beyond_loopback_with_tokens_is_taken(demo_data: dict[str, Any]) -> None:
    site = parse_site(with_api(demo_data, {"host": "0.0.0.0", "tokens": [
        {"supervisor": "Eva", "token": "${BOSS_API_TOKEN}"}]}), ENV)
    assert site.api.host == "0.0.0.0"


def test_a_host_name_is_refused(demo_data: dict[str, Any]) -> None:
    assert problems(with_api(demo_data, {"host": "pbx.example.org"})) == [
        ("api.host: 'pbx.example.org' is not an IP address or localhost (e.g. 127.0.0.1, "
        "0.0.0.0 or ::)")
    ]


@pytest.mark.parametrize(("entry", "env", "expected"), [
    ({"agent": "zed", "token": "${ASA_API_TOKEN}"}, {},
     "api.tokens[1].agent: unknown agent 'zed'"),
    ({"agent": "bjorn", "token": "${BOSS_API_TOKEN}"}, {},
     "api.tokens[1].token: the same token as api.tokens[0]: give each its own"),
    ({"agent": "bjorn", "token_hash": sha256(ENV["BOSS_API_TOKEN"]).text()}, {},
     "api.tokens[1].token_hash: the same token as api.tokens[0]: give each its own"),
    ({"agent": "bjorn", "token": "${EMPTY}"}, {"EMPTY": ""},
     "api.tokens[1].token: must not be empty"),
    ({"agent": "bjorn", "token": ""}, {}, "api.tokens[1].token: must not be empty"),
    ({"agent": "bjorn", "token": None}, {}, "api.tokens[1].token: must not be empty"),
    ({"agent": "bjorn", "token": "${SHORT}"}, {"SHORT": "fifteen-chars!!"},
     "api.tokens[1].token: must be at least 16 characters (`telephony token new` makes one)"),
    ({"agent": "bjorn", "token": "${SPACED}"}, {"SPACED": "sixteen chars and more"},
     ("api.tokens[1].token: must be printable ASCII without spaces (it travels in an HTTP "
     "header)")),
    ({"agent": "bjorn", "token": 12345678901234567890}, {},
     ("api.tokens[1].token: must be text: put it in quotes, or better take it from the "
     "environment (${NAME})")),
    ({"agent": "bjorn", "token_hash": "md5:abc"}, {},
     ("api.tokens[1].token_hash: is not a token hash: write what `telephony token hash` prints "
     "(scrypt$<salt>$<hash>), or sha256:<64 hex digits>")),
    ({"agent": "bjorn", "supervisor": "Eva", "token": "${ASA_API_TOKEN}"}, {},
     "api.tokens[1]: give either agent: ID or supervisor: NAME"),
    ({"token": "${ASA_API_TOKEN}"}, {},
     "api.tokens[1]: give either agent: ID or supervisor: NAME"),
    ({"agent": "bjorn"}, {},
     "api.tokens[1]: give either token (e.g. ${ASA_API_TOKEN}) or token_hash"),
    ({"agent": "bjorn", "token": "${ASA_API_TOKEN}", "token_hash": sha256("x").text()}, {},
     "api.tokens[1]: give either token (e.g. ${ASA_API_TOKEN}) or token_hash"),
    ({"agent": "bjorn", "tokn": "${ASA_API_TOKEN}"}, {},
     "api.tokens[1].tokn: unknown field (check its spelling)"),
])
def test_a_bad_token_entry_is_named(
    demo_data: dict[str, Any], entry: dict[str, Any], env: dict[str, str], expected: str
) -> None:
    text = with_api(demo_data, {"host": "::1", "tokens": [
        {"supervisor": "Eva", "token": "${BOSS_API_TOKEN}"}, entry]})
    found = problems(text, {**ENV, **env})
    assert expected in found, found


# -- the token never in a message ---------------------------------------------------------------

@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
@pytest.mark.parametrize("key", ["token", "token_hash"])
def test_no_broken_token_line_quotes_the_token(
    demo_data: dict[str, Any], breakage: str, key: str
) -> None:
    lines = with_api(demo_data, {"host": "0.0.0.0", "tokens": [
        {"agent": "asa", key: "PLACEHOLDER"}]}).split("\n")
    [i] = [n for n, line in enumerate(lines) if "PLACEHOLDER" in line]
    lines[i] = BREAKAGES[breakage](lines[i][: lines[i].index("PLACEHOLDER")], SECRET)
    try:
        parse_site("\n".join(lines), ENV)
    except ConfigError as exc:
        for problem in exc.problems:
            assert SECRET[:7] not in str(problem), (breakage, str(problem))


def test_a_short_token_from_the_environment_is_not_quoted(demo_data: dict[str, Any]) -> None:
    text = with_api(demo_data, {"tokens": [{"agent": "asa", "token": "${T}"}]})
    [problem] = problems(text, {**ENV, "T": "Sh0rt!tok#9"})
    assert "Sh0rt!tok#9" not in problem


# -- hashes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [sha256, scrypt])
def test_a_hashed_form_verifies_its_token_and_no_other(make: Any) -> None:
    digest = make(SECRET)
    again = parse_hash(digest.text())
    assert again == digest
    assert again.matches(SECRET)
    assert not again.matches(SECRET + "x")
    assert not again.matches(SECRET[:-1])
    assert SECRET not in repr(again)


def test_scrypt_salts_each_hash() -> None:
    assert scrypt(SECRET) != scrypt(SECRET)
    assert scrypt(SECRET).text().startswith("scrypt$")


def test_token_hash_prints_a_hash_of_the_token_on_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    assert cli.main(["token", "hash"]) == 0
    out = capsys.readouterr().out.strip()
    assert SECRET not in out
    assert parse_hash(out).matches(SECRET)


def test_token_hash_refuses_a_short_token_without_quoting_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Sh0rt!tok#9\n"))
    assert cli.main(["token", "hash"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("token: must be at least 16 characters")
    assert "Sh0rt!tok#9" not in captured.out + captured.err


def test_token_new_prints_a_usable_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["token", "new"]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 32
    assert check_token(token) == token


# -- the command line sends a token ---------------------------------------------------------------

def recording(seen: list[tuple[str, str | None]]) -> Any:
    def fake_request(base: str, method: str, path: str, body: object = None,
                     token: str | None = None) -> dict[str, Any]:
        seen.append((base, token))
        return {}
    return fake_request


@pytest.mark.parametrize(("argv", "env", "sent"), [
    ([], None, None),
    (["--token", "from-the-option-0123"], None, "from-the-option-0123"),
    ([], "from-the-env-0123456", "from-the-env-0123456"),
    (["--token", "from-the-option-0123"], "from-the-env-0123456", "from-the-option-0123"),
])
def test_api_commands_send_the_token_from_the_option_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: str | None, sent: str | None
) -> None:
    seen: list[tuple[str, str | None]] = []
    monkeypatch.setattr("telephony.engine.client.request", recording(seen))
    if env is None:
        monkeypatch.delenv("TELEPHONY_API_TOKEN", raising=False)
    else:
        monkeypatch.setenv("TELEPHONY_API_TOKEN", env)
    assert cli.main(["agent", "focus", "asa", *argv]) == 0
    assert seen == [("http://127.0.0.1:8080", sent)]


def test_an_api_command_reaches_an_api_on_every_address_through_loopback(
    demo_data: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(with_api(demo_data, {"host": "::", "port": 8181, "tokens": [
        {"supervisor": "Eva", "token": "${BOSS_API_TOKEN}"}]}), encoding="utf-8")
    monkeypatch.setenv("BOSS_API_TOKEN", ENV["BOSS_API_TOKEN"])
    seen: list[tuple[str, str | None]] = []
    monkeypatch.setattr("telephony.engine.client.request", recording(seen))
    assert cli.main(["experts", "pension", "--config", str(path)]) == 0
    assert seen == [("http://[::1]:8181", None)]


@pytest.mark.parametrize("command", [["run"], ["demo", "--config"]])
def test_run_beyond_loopback_needs_tokens(
    demo_data: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(with_api(demo_data, {"port": 8080}), encoding="utf-8")
    assert cli.main([*command, str(path), "--host", "0.0.0.0"]) == 2
    assert capsys.readouterr().err == (
        "--host: 0.0.0.0 is reachable from other machines: give api.tokens in the site file "
        "first (README: Access)\n")


def test_the_401_hint_names_the_ways_to_give_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.error
    import urllib.request

    from telephony.engine.client import ApiError, request

    def refuse(req: urllib.request.Request, timeout: float) -> Any:
        assert req.get_header("Authorization") == "Bearer wrong-0123456789abcdef"
        body = io.BytesIO(json.dumps({"field": "authorization",
                                      "error": "the token is not valid"}).encode())
        raise urllib.error.HTTPError(req.full_url, 401, "Unauthorized", None, body)  # type: ignore[arg-type]

    monkeypatch.setattr("urllib.request.urlopen", refuse)
    with pytest.raises(ApiError) as caught:
        request("http://127.0.0.1:8080", "GET", "/api/status", token="wrong-0123456789abcdef")
    assert str(caught.value) == (
        "authorization: the token is not valid (give --token or TELEPHONY_API_TOKEN)")
