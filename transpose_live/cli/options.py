"""Command-line options from `RunConfig` (`run_options`) and the few options no run config holds."""

from __future__ import annotations

import functools
import inspect
import types
import typing
from dataclasses import fields

import typer
from typer.core import TyperCommand, TyperOption

from transpose_live.config import RunConfig, config_from_options, default_for, options_of


# what --help shows after an option taking a value (flags show nothing)
METAVARS = {"<int>": "N", "<int range>": "N", "<float>": "X", "<float range>": "X", "<path>": "PATH"}


class Command(TyperCommand):
    """A command whose --help fits 80 columns: flags without a `<bool>` placeholder, values as N, X,
    PATH or TEXT (use `@app.command(cls=Command)`)."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for p in params:
            if isinstance(p, TyperOption) and p.metavar is None and p.nargs == 1:
                if p.is_flag:
                    p.metavar = ""
                else:
                    p.metavar = METAVARS.get(p.display_type(ctx), "TEXT")
        return params


def _typer_option(f, command: str, cls=RunConfig):
    """One config field (of `cls`) as a Typer option for `command`, and its Typer type."""
    from transpose_live.models.registry import DEFAULT_MODEL

    meta, cli = f.metadata, dict(f.metadata["cli"])
    flag = cli.pop("flag", "--" + f.name.replace("_", "-"))
    decls = [flag]
    hint = cli.pop("type", None) or typing.get_type_hints(cls)[f.name]
    if isinstance(hint, types.UnionType):  # `str | None` -> Optional[str], the spelling Typer reads
        hint = typing.Optional[tuple(a for a in typing.get_args(hint) if a is not type(None))[0]]
    if hint in (bool, typing.Optional[bool]) and cli.pop("negatable", True):
        decls = [f"{flag}/--no-{flag[2:]}"]
    if "short" in cli:
        decls.append(cli.pop("short"))
    default = default_for(f, command)
    help_text = meta["help"].format(default_model=DEFAULT_MODEL)
    cli.setdefault("show_default", default is not None and not isinstance(default, bool))
    return typer.Option(default, *decls, help=help_text, rich_help_panel=meta["panel"], **cli), hint


def config_options(cls, command: str):
    """Decorator: appends the options that config class `cls` (RunConfig, TrainConfig) declares for
    `command` to the command's own parameters and hands them to it as one `cfg` (built by
    `config.config_from_options`: parsed, the command's defaults for the options it does not show)."""
    exposed = options_of(command, cls)

    def decorate(func):
        own = inspect.signature(func, eval_str=True)
        params = [p for p in own.parameters.values() if p.name != "cfg"]
        for f in exposed:
            default, hint = _typer_option(f, command, cls)
            params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint))

        @functools.wraps(func)
        def wrapper(**kwargs):
            cfg = config_from_options(cls, command, {f.name: kwargs.pop(f.name) for f in exposed})
            return func(cfg=cfg, **kwargs)

        wrapper.__signature__ = own.replace(parameters=params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate


def run_options(command: str):
    """Decorator: appends `command`'s RunConfig options to its own parameters and hands them to the
    command as one `cfg: RunConfig` (the options it does not show keep the command's defaults)."""
    return config_options(RunConfig, command)


def weights_arg(value: str | None):
    """CLI weights value -> `models.build` weights argument ('random' -> None)."""
    return RunConfig(weights=value).weights_value


def option_for(name: str, command: str = "video"):
    """The Typer option of RunConfig field `name` for a command that has no RunConfig (train, label)."""
    f = next(f for f in fields(RunConfig) if f.name == name)
    return _typer_option(f, command)[0]


DeviceOpt = option_for("device")
