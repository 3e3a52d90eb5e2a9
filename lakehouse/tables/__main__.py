"""``python -m lakehouse.tables``: print the README's registry blocks (see :mod:`.docs`)."""

from lakehouse.tables.docs import maintenance_markdown, readers_markdown, tables_markdown

print(tables_markdown())
print()
print(readers_markdown())
print()
print(maintenance_markdown())
