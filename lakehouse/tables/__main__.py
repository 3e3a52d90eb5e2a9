"""``python -m lakehouse.tables``: print the README's table of tables and reader table (see :mod:`.docs`)."""

from lakehouse.tables.docs import readers_markdown, tables_markdown

print(tables_markdown())
print()
print(readers_markdown())
