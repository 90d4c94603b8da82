from __future__ import annotations

from pathlib import Path

import pytest

from labelloop.engine.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[3]


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "labelloop.yaml"
    p.write_text(text)
    return p


def test_minimal_config_gets_defaults_and_resolves_paths_against_the_file(tmp_path: Path) -> None:
    p = _write(tmp_path, "project: demo\ntask:\n  labels: [a, b]\nsource:\n  path: data/in.csv\nworkdir: state\n")
    cfg = load_config(p)
    assert cfg.task.kind == "text_classification"
    assert cfg.source is not None and cfg.source.path == tmp_path / "data" / "in.csv"
    assert cfg.source.resolved_format() == "csv"
    assert cfg.workdir == tmp_path / "state"
    assert cfg.store_url(cfg.resolved_workdir()) == f"sqlite:///{tmp_path / 'state' / 'labelloop.db'}"
    assert cfg.privacy.redact is True and cfg.ingest.store_original_text is False


def test_errors_name_every_bad_key_path_and_what_is_allowed(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "project: demo\ntask:\n  kind: ner\n  labels: [a, a]\n  colour: red\nsource:\n  path: x.csv\n  format: xml\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert str(p) in msg
    assert "task.kind" in msg and "text_classification" in msg and "'ner'" in msg
    assert "task.labels" in msg and "duplicate labels: ['a']" in msg
    assert "task.colour: unknown key; allowed keys: guidelines, kind, labels, taxonomy" in msg
    assert "source.format" in msg and "'parquet'" in msg


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"task: required key is missing"):
        load_config(_write(tmp_path, "project: demo\n"))


def test_secrets_are_refused_in_yaml(tmp_path: Path) -> None:
    p = _write(tmp_path, "project: demo\ntask:\n  labels: [a, b]\nlabelstudio_token: abc\n")
    with pytest.raises(ConfigError, match=r"labelstudio_token: secrets are not read from config files"):
        load_config(p)


def test_bad_yaml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "project: [unclosed\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_format_extension_is_explained(tmp_path: Path) -> None:
    cfg = parse_config({"project": "p", "task": {"labels": ["a", "b"]}, "source": {"path": "x.xml"}}, base_dir=tmp_path)
    assert cfg.source is not None
    with pytest.raises(ConfigError, match=r"source.format: cannot infer"):
        cfg.source.resolved_format()


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid_and_point_at_existing_data(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.source is not None
    assert cfg.source.path.is_file(), f"{path.name}: {cfg.source.path} is missing"


def test_a_password_inside_a_url_is_refused_unless_it_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from labelloop.engine.config import ConfigError, load_config

    def write(url: str) -> Path:
        p = tmp_path / "c.yaml"
        p.write_text(yaml.safe_dump({"project": "p", "task": {"labels": ["a", "b"]}, "store": {"url": url}}))
        return p

    with pytest.raises(ConfigError, match=r"store\.url: the URL carries a password") as err:
        load_config(write("postgresql+psycopg://me:hunter2secret@db.example/x"))
    assert "hunter2secret" not in str(err.value)
    monkeypatch.delenv("LL_PG_PW", raising=False)
    with pytest.raises(ConfigError, match=r"store\.url: the environment variable LL_PG_PW"):
        load_config(write("postgresql+psycopg://me:${LL_PG_PW}@db.example/x"))
    monkeypatch.setenv("LL_PG_PW", "s3cr3t")
    cfg = load_config(write("postgresql+psycopg://me:${LL_PG_PW}@db.example/x"))
    assert cfg.store.url == "postgresql+psycopg://me:s3cr3t@db.example/x"
    assert load_config(write("postgresql+psycopg://me@db.example/x")).store.url.endswith("me@db.example/x")
