"""Lazy package exports: `from workbench.generation import ImageGenerator` works, and tab
completion lists it, while `import workbench.generation` alone imports no torch or diffusers."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, str], namespace: dict):
    """`__getattr__` and `__dir__` for `package`, whose `exports` map each public name to the
    module that defines it: a module of the package ("engine") or a full name ("workbench.maps.widget").
    `namespace` is the package's globals(), for what `dir()` lists beside the exports."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = exports[name] if "." in exports[name] else f"{package}.{exports[name]}"
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
