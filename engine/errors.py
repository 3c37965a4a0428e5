"""The engine package's exception hierarchy."""


class EngineError(Exception):
    """Base of every error the engine package raises."""


class ConfigError(EngineError):
    """A configuration (instruments file, option) is invalid."""


class InputError(EngineError):
    """An input file cannot be read or an output file cannot be written."""


class MissingExtra(EngineError):
    """An optional dependency is not installed (engine/extras.py names the extra)."""


class CapacityError(EngineError):
    """The engine cannot grow its arrays any further."""
