"""Verifier registry: names in configs resolved to plain functions.

A verifier is a plain function ``(completion: str, answer: str) -> Verdict``.
``get_verifier(name)`` resolves a name, in order:

1. names registered in this process with ``@register("name")``;
2. the entry-point group ``rldistill.verifiers`` of installed packages
   (``[project.entry-points."rldistill.verifiers"] myname = "mypkg.mod:fn"``);
3. a ``"package.module:attr"`` string, imported on demand.

An unknown name raises ``UnknownVerifierError`` listing ``available()``.
The built-in verifiers (``math``, ``program``) are imported lazily so that
importing the registry stays cheap in worker processes.

This module does not run verifiers with time limits: ``verifiers.pool`` does.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Callable

ENTRY_POINT_GROUP = "rldistill.verifiers"

# Built-ins: name -> module that registers it on import. Kept lazy on purpose.
_BUILTIN_MODULES = {
    "math": "verifiers.math_verifier",
    "program": "verifiers.program",
}

_REGISTRY: dict[str, Callable] = {}


@dataclass(frozen=True)
class Verdict:
    """The result of one check.

    ``score`` is in [0, 1], or ``None`` when the verifier cannot judge (for
    example the gold answer itself does not parse). ``reason`` is a short tag:
    ``ok``, ``mismatch``, ``no_answer``, ``timeout``, ``parse_error``,
    ``hedged``, ``runtime_error``, ``wrong_output``, ...
    ``detail`` is free text for people (e.g. ``"3 of 4 tests ran; 2 passed"``):
    it is not compared, and shown only when set. Code keys on ``reason``.
    """

    score: float | None
    reason: str
    detail: str = field(default="", compare=False)

    def __repr__(self) -> str:
        extra = f", detail={self.detail!r}" if self.detail else ""
        return f"Verdict(score={self.score!r}, reason={self.reason!r}{extra})"

    def __post_init__(self):
        if self.score is not None:
            s = float(self.score)
            if not (0.0 <= s <= 1.0):  # NaN fails this too
                raise ValueError(f"Verdict.score must be in [0, 1] or None, got {self.score!r}")
            object.__setattr__(self, "score", s)
        if not isinstance(self.reason, str):
            raise TypeError(f"Verdict.reason must be a str, got {type(self.reason).__name__}")


class UnknownVerifierError(KeyError):
    """Raised by ``get_verifier`` for a name that resolves to nothing."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown verifier"


def register(name: str) -> Callable[[Callable], Callable]:
    """Register ``fn`` under ``name``.

    >>> from verifiers import register, Verdict, get_verifier
    >>> @register("exact_doc")
    ... def exact(completion, answer):
    ...     return Verdict(float(completion.strip() == answer.strip()), "ok")
    >>> get_verifier("exact_doc")("42", "42").score
    1.0
    """
    if not isinstance(name, str) or not name:
        raise ValueError("verifier name must be a non-empty string")

    def deco(fn: Callable) -> Callable:
        if not callable(fn):
            raise TypeError(f"@register({name!r}) needs a callable, got {type(fn).__name__}")
        _REGISTRY[name] = fn
        try:
            fn.verifier_name = name  # used by the pool to re-resolve the function in workers
        except (AttributeError, TypeError):
            pass
        return fn

    return deco


def _entry_points() -> dict:
    try:
        return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    except Exception:  # broken metadata in some unrelated dist must not break lookup
        return {}


def _load_builtin(name: str) -> None:
    mod = _BUILTIN_MODULES.get(name)
    if mod is not None and name not in _REGISTRY:
        importlib.import_module(mod)


def available() -> list[str]:
    """All names ``get_verifier`` resolves without a ``module:attr`` string."""
    names = set(_REGISTRY) | set(_BUILTIN_MODULES) | set(_entry_points())
    return sorted(names)


def get_verifier(name: str) -> Callable:
    """Resolve ``name`` to a verifier function (see the module docstring)."""
    if callable(name):
        return name
    if not isinstance(name, str) or not name:
        raise UnknownVerifierError(f"verifier name must be a non-empty string, got {name!r}; available: {available()}")
    _load_builtin(name)
    if name in _REGISTRY:
        return _REGISTRY[name]
    eps = _entry_points()
    if name in eps:
        fn = eps[name].load()
        _REGISTRY.setdefault(name, fn)
        return fn
    if ":" in name:
        mod_name, _, attr = name.partition(":")
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as e:
            raise UnknownVerifierError(
                f"verifier {name!r}: cannot import module {mod_name!r} ({e}); available: {available()}"
            ) from e
        # Importing the module may have registered the name (decorator) as well.
        obj = mod
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise UnknownVerifierError(
                    f"verifier {name!r}: module {mod_name!r} has no attribute {attr!r}; available: {available()}"
                )
            obj = getattr(obj, part)
        if not callable(obj):
            raise UnknownVerifierError(f"verifier {name!r} is not callable")
        return obj
    raise UnknownVerifierError(f"unknown verifier {name!r}; available: {available()} (or use 'package.module:attr')")
