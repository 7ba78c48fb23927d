"""registrar: a student-course enrollment service."""

__version__ = "0.1.0"
