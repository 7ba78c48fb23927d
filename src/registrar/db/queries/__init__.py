"""Every statement that runs while serving: one module per resource, one function per query,
both dialects side by side.

Each function takes the transaction (or connection) its service opened. Statements are plain SQL
text so that asyncpg and sqlite3 prepare and cache them once per connection; id lists travel as
one array parameter (PostgreSQL `bigint[]`, SQLite JSON read with `json_each`), so the number of
round trips of a request never grows with the number of ids in it.
"""
