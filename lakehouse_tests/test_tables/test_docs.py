"""The README's table of tables, reader table and maintenance table are the registry's (``python -m lakehouse.tables``)."""

import re

import pytest

from lakehouse.settings import PROJECT_ROOT
from lakehouse.tables.docs import maintenance_markdown, readers_markdown, tables_markdown


@pytest.mark.parametrize(("marker", "generate"), [("tables", tables_markdown), ("readers", readers_markdown),
                                                  ("maintenance", maintenance_markdown)])
def test_readme_block_equals_what_the_registry_generates(marker, generate):
    readme = (PROJECT_ROOT / "README.md").read_text()
    block = re.search(rf"<!-- registry:{marker} -->\n(.*?)\n<!-- /registry:{marker} -->", readme, re.DOTALL)
    assert block, f"README has no registry:{marker} block"
    assert block.group(1) == generate(), "README is out of date: paste `python -m lakehouse.tables` into it"
