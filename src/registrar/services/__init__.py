"""The rules of registrar: one function per use case, each opening its own transaction."""
