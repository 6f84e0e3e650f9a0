"""The command line of the scripts that take a run directory and ``key=value`` options
(``scripts/evaluate.py``, ``scripts/ship_model.py``): one parser, one set of error lines."""

from __future__ import annotations

from pathlib import Path

TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


def parse_run_options(prog: str, usage: str, argv: list[str], defaults: dict, kinds: dict) -> tuple[Path, dict]:
    """``<run dir> [key=value ...]`` -> (run dir, options). ``kinds[key]`` is ``bool`` (true/false,
    1/0, yes/no, any case) or ``int``; a key not in ``defaults`` is refused. Every error is one line
    ``<prog>: error: ...`` (the usage line for a missing run directory), raised as SystemExit before
    the caller touches anything."""
    if not argv or "=" in argv[0]:
        raise SystemExit(usage)
    opts = dict(defaults)
    for arg in argv[1:]:
        key, sep, value = arg.partition("=")
        if not sep or key not in defaults:
            raise SystemExit(f"{prog}: error: unknown option '{arg}'\n{usage}")
        if kinds[key] is bool:
            if value.lower() not in TRUE + FALSE:
                raise SystemExit(f"{prog}: error: {key} must be true or false (got '{value}')")
            opts[key] = value.lower() in TRUE
        else:
            try:
                opts[key] = kinds[key](value)
            except ValueError:
                raise SystemExit(f"{prog}: error: {key} must be an integer (got '{value}')") from None
    return Path(argv[0]), opts


def method_class(prog: str, run_dir: Path, name):
    """The method class a run names (``asyncrl.methods.get_method``), or one line ``<prog>: error:
    ...`` when the run names none or names one this install cannot load (a user's own
    ``package.module:Class`` that is not importable here, or a method this version does not have)."""
    from .methods import get_method

    if not name:
        raise SystemExit(f"{prog}: error: {run_dir} names no method (is it a run directory?)")
    try:
        return get_method(str(name))
    except (KeyError, ImportError, AttributeError) as exc:
        raise SystemExit(f"{prog}: error: {run_dir}: its method '{name}' cannot be loaded here "
                         f"({str(exc).strip(chr(39) + chr(34))})") from None
