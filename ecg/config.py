"""Validated configuration: pydantic models that reject unknown keys and say which are valid."""
import typing

from pydantic import BaseModel, ConfigDict, ValidationError

from ecg.errors import ConfigError


class StrictConfig(BaseModel):
    """Base of every ecg config: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


def parse_config(model, data, what=None):
    """Validate ``data`` (a dict, or an instance of ``model``) into ``model``.

    Raises
    ------
    ConfigError
        With every problem on its own line, and for unknown keys the valid ones.
    """
    if isinstance(data, model):
        return data
    what = what or model.__name__
    if data is None:
        data = {}
    if not isinstance(data, dict) and isinstance(getattr(data, "config", None), dict):
        data = data.config          # a batchflow Config, e.g. a pipeline's C("model")
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: expected a dict of settings, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, model, what)) from None


def format_validation_error(exc, model, what):
    """Turn a pydantic ValidationError into a message that names keys and valid keys."""
    lines = [f"invalid {what}:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        if err["type"] == "extra_forbidden":
            valid = sorted(_fields_at(model, err["loc"][:-1]))
            lines.append(f"  unknown key {loc!r}; valid keys: {', '.join(valid)}")
        else:
            lines.append(f"  {loc}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def find_model(annotation):
    """The pydantic model class in a field's annotation (``Optional[M]``, ``list[M]``...), or ``None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = find_model(arg)
        if found is not None:
            return found
    return None


def _fields_at(model, loc):
    """Field names of the (nested) model that ``loc`` points into."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        nested = find_model(getattr(field, "annotation", None))
        if nested is None:
            break
        model = nested
    return model.model_fields.keys()
