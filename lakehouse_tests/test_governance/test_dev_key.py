"""Which key local processes use: the variable when set, else data/pii_dev.key (make dev) or a throwaway one (lakehouse-checks)."""

import subprocess

from lakehouse.governance.dev_key import throwaway_key, use_dev_key
from lakehouse.governance.tokens import KEY_VARIABLE
from lakehouse.settings import PROJECT_ROOT


def test_make_dev_uses_the_development_key_file_only_when_the_variable_is_unset(tmp_path):
    key_file = tmp_path / "pii_dev.key"
    key_file.write_text("0123abcd" * 8)
    env: dict[str, str] = {}
    note = use_dev_key(env, key_file)
    assert env[KEY_VARIABLE] == "0123abcd" * 8
    assert "development key" in note and str(key_file) in note and "0123abcd" not in note

    env = {KEY_VARIABLE: "production-secret"}
    note = use_dev_key(env, key_file)
    assert env[KEY_VARIABLE] == "production-secret" and "is set" in note and "production-secret" not in note


def test_with_neither_the_variable_nor_the_file_nothing_is_set_and_the_note_says_what_will_fail(tmp_path):
    env: dict[str, str] = {}
    note = use_dev_key(env, tmp_path / "missing.key")
    assert env == {} and "gold/customers_masked will fail" in note and "make setup" in note


def test_the_checks_command_uses_a_throwaway_key_only_for_its_block():
    env: dict[str, str] = {}
    with throwaway_key(env) as note:
        key = env[KEY_VARIABLE]
        assert len(key) == 64 and "throwaway" in note and key not in note
    assert env == {}
    env = {KEY_VARIABLE: "set"}
    with throwaway_key(env):
        assert env[KEY_VARIABLE] == "set"
    assert env == {KEY_VARIABLE: "set"}


def test_setup_creates_the_key_once_with_mode_600_and_git_ignores_it():
    script = (PROJECT_ROOT / "scripts" / "setup.sh").read_text()
    assert "if [ ! -f data/pii_dev.key ]" in script and "chmod 600 data/pii_dev.key" in script
    assert "secrets.token_hex(32)" in script and "production must set LAKEHOUSE_PII_KEY" in script
    ignored = subprocess.run(["git", "check-ignore", "-q", "data/pii_dev.key"], cwd=PROJECT_ROOT, check=False)
    assert ignored.returncode == 0
