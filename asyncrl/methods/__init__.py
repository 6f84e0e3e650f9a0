"""Registry: every learner module, by the name `method.name` uses.

A method is one module here and one conf/method/<name>.yaml. The module defines a Method subclass
that sets its own `name` (and `aliases`, more names it runs under) and, when it has
hyper-parameters of its own, a MethodCfg subclass named by the class's `config`. Importing this
package finds every such class and registers each config class as the Hydra schema
`<module>_schema` of group `method`, which the yaml's defaults list names.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..config import schema_name, store_method_config
from .base import Method, Rollout, build_network


def _discover() -> dict:
    """{name: class} for the Method subclasses that the modules of this package define with a
    `name` of their own."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for obj in vars(module).values():
            if not (isinstance(obj, type) and issubclass(obj, Method) and obj is not Method):
                continue
            if obj.__module__ != module.__name__ or "name" not in vars(obj):
                continue  # imported from another module, or a shared base (ValueBased)
            for key in (obj.name, *obj.aliases):
                if key in found and found[key] is not obj:
                    raise ImportError(f"two methods named '{key}': {found[key].__qualname__} and {obj.__qualname__}")
                found[key] = obj
    return found


def _register_configs(methods: dict) -> None:
    """Each method's config class, stored once as the schema its yaml names."""
    schemas = {}
    for cls in methods.values():
        other = schemas.setdefault(schema_name(cls.config), cls.config)
        if other is not cls.config:
            raise ImportError(f"{other.__qualname__} and {cls.config.__qualname__} share the schema "
                              f"'{schema_name(cls.config)}': one config class per module")
    for config_cls in schemas.values():
        store_method_config(config_cls)


METHODS = dict(sorted(_discover().items()))
_register_configs(METHODS)


def get_method(name: str):
    """A registered method, or a user's own as "package.module:Class" (a Method subclass)."""
    if ":" in name:
        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method '{name}' (valid: {', '.join(sorted(METHODS))})") from None


__all__ = ["METHODS", "Method", "Rollout", "build_network", "get_method"]
