import pytest

from gfn_lib.config import ConfigError, TrainConfig, load_config, make_config


def test_defaults_are_the_memo_training_configuration():
    cfg = TrainConfig()
    assert (cfg.lr, cfg.batch_size, cfg.warmup_steps) == (3e-4, 64, 1000)
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads) == (4, 256, 8)
    assert (cfg.min_len, cfg.max_len, cfg.env.n_actions) == (10, 30, 21)
    assert cfg.entropy_weight == 0.01 and cfg.loss == "tb"
    assert cfg.effective_log_z_lr == cfg.lr  # one learning rate, as in the memo


def test_every_field_is_documented():
    docs = TrainConfig.field_docs()
    assert set(docs) == set(TrainConfig.model_fields)
    assert all(len(d) > 10 for d in docs.values()), [k for k, d in docs.items() if len(d) <= 10]


def test_yaml_with_overrides(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("lr: 1e-3\nbatch_size: 16\nloss: subtb\n")  # YAML 1.1 reads 1e-3 as a string
    cfg = load_config(f, n_steps=7)
    assert cfg.lr == 1e-3 and cfg.batch_size == 16 and cfg.loss == "subtb" and cfg.n_steps == 7
    assert load_config(f, log_z_lr=0.1).effective_log_z_lr == 0.1


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("lr: 0\n", "lr", "greater than 0"),
        ("lr: -1e-3\n", "lr", "greater than 0"),
        ("batch_size: 0\n", "batch_size", "greater than or equal to 1"),
        ("batch_size: 12.5\n", "batch_size", "integer"),
        ("min_len: 20\nmax_len: 10\n", "min_len", "min_len=20 > max_len=10"),
        ("loss: db\n", "loss", "'tb', 'subtb' or 'logvar'"),
        ("reward: nonsense\n", "reward", "unknown reward 'nonsense'"),
        ("learning_rate: 0.1\n", "learning_rate", "unknown field"),
        ("n_layers: four\n", "n_layers", "integer"),
        ("d_model: 30\nn_heads: 8\n", "d_model", "not divisible"),
        ("epsilon: 1.5\n", "epsilon", "less than or equal to 1"),
    ],
)
def test_bad_values_name_file_and_field_on_one_line(tmp_path, text, field, words):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(f)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{f}: field '{field}'"), msg
    assert words in msg, msg


@pytest.mark.parametrize(
    ("text", "words"),
    [("lr: [1, 2\n", "malformed YAML at line"), ("- 1\n- 2\n", "expected a mapping"), ("a: b: c\n", "malformed YAML")],
)
def test_malformed_yaml(tmp_path, text, words):
    f = tmp_path / "broken.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=words) as err:
        load_config(f)
    assert str(err.value).startswith(str(f)) and "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_config_is_immutable():
    cfg = make_config({"seed": 3})
    with pytest.raises(Exception):
        cfg.seed = 4
