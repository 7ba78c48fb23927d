"""Alembic migrations, shipped inside the package and reached through `registrar migrate`."""
