"""``gfn-study``: the command line.

``gfn-study train --config FILE --out DIR [--set field=value ...]`` trains one
configuration into a run folder (resuming it if a checkpoint is there).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from gfn_lib.config import ConfigError, TrainConfig


def _parse_overrides(pairs: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set: expected field=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from gfn_lib.config import load_config
    from gfn_lib.trainer import Trainer

    cfg = load_config(args.config, **_parse_overrides(args.set))
    trainer = Trainer(cfg, Path(args.out))
    df = trainer.train(progress=not args.quiet)
    last = df.iloc[-1]
    print(f"step {int(last.step)}: loss {last.loss:.4g}  log_z {last.log_z:.3f}  mean_reward {last.mean_reward:.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gfn-study", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train one config into a run folder (resumes from its checkpoint)")
    p.add_argument("--config", type=Path, default=None, help="YAML of TrainConfig fields (default: the memo config)")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override config fields")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
