"""Reference data: ``stores/stores.csv`` and daily ``products/products_<day>.csv`` snapshots.

The catalog changes slowly: each day after the first, one to three prices change by up to
15 %, now and then a new product is launched (it sells from its launch day on), and now and
then one product is left out of a day's snapshot (it still sells, at its unchanged price).
The last day's snapshot is always complete, so "latest snapshot wins" is unambiguous.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from lakehouse.generator.manifest import ProductStats

#: (city, region) pairs shared by stores and customers.
CITIES: tuple[tuple[str, str], ...] = (
    ("Paris", "North"), ("Lille", "North"), ("Rouen", "North"), ("Strasbourg", "East"),
    ("Nancy", "East"), ("Dijon", "East"), ("Lyon", "South-East"), ("Grenoble", "South-East"),
    ("Marseille", "South-East"), ("Nice", "South-East"), ("Toulouse", "South-West"),
    ("Bordeaux", "South-West"), ("Montpellier", "South"), ("Nantes", "West"),
    ("Rennes", "West"), ("Brest", "West"),
)
_STORE_KINDS = ("Centre", "Mall", "Station", "Market", "Express", "Park")

# category -> (nouns, min price cents, max price cents)
_CATEGORIES: dict[str, tuple[tuple[str, ...], int, int]] = {
    "Grocery": (("Coffee Beans", "Olive Oil", "Pasta", "Rice", "Honey", "Chocolate"), 99, 2_499),
    "Beverages": (("Orange Juice", "Sparkling Water", "Green Tea", "Lemonade", "Red Wine"), 79, 3_999),
    "Household": (("Detergent", "Sponges", "Paper Towels", "Candle", "Storage Box"), 149, 4_999),
    "Electronics": (("Headphones", "USB Cable", "Power Bank", "Speaker", "Smart Plug"), 799, 29_999),
    "Clothing": (("T-Shirt", "Socks", "Scarf", "Hoodie", "Rain Jacket"), 499, 14_999),
    "Toys": (("Puzzle", "Building Blocks", "Plush Bear", "Card Game", "Kite"), 399, 7_999),
}
_ADJECTIVES = ("Classic", "Organic", "Premium", "Everyday", "Eco", "Deluxe", "Mini", "Family")


def cents_text(cents: int) -> str:
    """``1250`` -> ``'12.50'``."""
    return f"{cents // 100}.{cents % 100:02d}"


def write_stores(out: Path, count: int, rng: random.Random) -> Path:
    """Write ``stores/stores.csv`` with ``count`` stores, ids 1..count."""
    path = out / "stores" / "stores.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("store_id", "store_name", "city", "region"))
        for store_id in range(1, count + 1):
            city, region = rng.choice(CITIES)
            writer.writerow((store_id, f"{city} {rng.choice(_STORE_KINDS)} #{store_id}", city, region))
    return path


@dataclass
class Catalog:
    """The product catalog of every generated day.

    ``sellable[d]`` lists ``(product_id, price_text, price_cents)`` of the products on sale on
    day ``d`` (launched by then, listed in the snapshot or not); ``snapshot[d]`` the ids written
    to that day's snapshot.
    """

    days: list[date]
    names: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (name, category)
    sellable: list[list[tuple[int, str, int]]] = field(default_factory=list)
    snapshot: list[list[int]] = field(default_factory=list)
    stats: ProductStats = field(default_factory=ProductStats)


def plan_catalog(rng: random.Random, products: int, start: date, days: int) -> Catalog:
    """Decide names, launch days, daily prices and snapshot gaps of ``products`` products."""
    catalog = Catalog(days=[start + timedelta(days=d) for d in range(days)])
    late = min(products // 20, days - 1) if days > 1 else 0
    launch = {pid: 0 for pid in range(1, products - late + 1)}
    for pid, day in zip(range(products - late + 1, products + 1), sorted(rng.sample(range(1, days), late))):
        launch[pid] = day
    prices: dict[int, int] = {}
    for pid in range(1, products + 1):
        category = rng.choice(tuple(_CATEGORIES))
        nouns, low, high = _CATEGORIES[category]
        catalog.names[pid] = (f"{rng.choice(_ADJECTIVES)} {rng.choice(nouns)}", category)
        prices[pid] = rng.randint(low, high)
    stats = catalog.stats
    for d, day in enumerate(catalog.days):
        live = [pid for pid in range(1, products + 1) if launch[pid] <= d]
        changed: set[int] = set()
        if d > 0:
            stats.new_products += sum(1 for pid in live if launch[pid] == d)
            old = [pid for pid in live if launch[pid] < d]
            for pid in rng.sample(old, min(len(old), rng.randint(1, 3))):
                prices[pid] = max(49, round(prices[pid] * rng.uniform(0.85, 1.15)))
                changed.add(pid)
            stats.price_changes += len(changed)
        listed = live
        if d < days - 1 and rng.random() < 0.35:
            candidates = [pid for pid in live if pid not in changed and launch[pid] < d]
            if candidates:
                gone = rng.choice(candidates)
                listed = [pid for pid in live if pid != gone]
                stats.missing.append([day.isoformat(), gone])
        catalog.sellable.append([(pid, cents_text(prices[pid]), prices[pid]) for pid in live])
        catalog.snapshot.append(listed)
    stats.snapshots = days
    stats.products_total = len({pid for ids in catalog.snapshot for pid in ids})
    stats.final_prices = {str(pid): prices[pid] / 100 for pid in catalog.snapshot[-1]} if days else {}
    return catalog


def write_product_snapshots(out: Path, catalog: Catalog) -> list[Path]:
    """Write one ``products/products_<day>.csv`` full snapshot per day of the catalog."""
    folder = out / "products"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for day, listed, sellable in zip(catalog.days, catalog.snapshot, catalog.sellable):
        price = {pid: text for pid, text, _ in sellable}
        path = folder / f"products_{day.isoformat()}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(("product_id", "product_name", "category", "list_price"))
            for pid in listed:
                name, category = catalog.names[pid]
                writer.writerow((pid, name, category, price[pid]))
        paths.append(path)
    return paths
