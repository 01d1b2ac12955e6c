"""Social listening and experimentation tracker."""

__version__ = "0.1.0"
