"""The sandbox organisation "Acme": a products file now, its generated data and fake servers later.

`PRODUCTS_FILE` is the products-as-code file the demo applies and the sandbox generator follows.
"""

from pathlib import Path

PRODUCTS_FILE = Path(__file__).resolve().parent / "products.yaml"
