"""``--set KEY=VALUE`` strings to the typed overrides ``config.resolve`` takes."""

from __future__ import annotations

from mri_gan.config import field_type
from mri_gan.errors import UserError

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def parse_sets(items) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}`` (strings as given)."""
    out = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UserError("--set", f"expected key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def coerce(kind: str, value: str, key: str):
    """Parse one ``--set`` value to a field's annotated type (``'int | None'``, ``'list[float]'``, ...)."""
    base = kind.removesuffix(" | None")
    if base != kind and value.lower() in ("none", ""):
        return None
    try:
        if base == "bool":
            if value.lower() not in _TRUE + _FALSE:
                raise ValueError
            return value.lower() in _TRUE
        if base.startswith("list["):
            items = [v for v in value.split(",") if v]
            return [float(v) for v in items] if base == "list[float]" else items
        return {"int": int, "float": float}.get(base, str)(value)
    except ValueError:
        raise UserError("--set", f"{key}={value!r} is not a valid {base.partition('[')[0]}") from None


def typed_sets(model: str, sets: dict[str, str]) -> dict:
    """``parse_sets``' strings typed for ``model``'s config (UserError for a key it does not have)."""
    return {key: coerce(field_type(model, key), value, key) for key, value in sets.items()}
