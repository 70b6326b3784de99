"""The daily outputs of a run (order lines, inventory snapshots, ad spend) as monthly tables.

The engine adds each day's rows; at each month end the month becomes one Arrow table per entity,
written as ``<entity>_YYYY-MM.parquet`` when the run has a data folder (``generate``) or kept in
memory otherwise (benchmarks and tests).

Orders come in the scenario's ``order_rows`` shape: order lines as sold (the default), one row
per listing and day (``daily``: order id ``D-<date>-<sku>-<marketplace>``, priced at the day's
displayed price), or one row per listing and week dated the week's Monday (``weekly``: order id
``W-<Monday>-<sku>-<marketplace>``, the week's units at their average price). A week is written
once its Sunday has been simulated, into the file of the month in which it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ml.settings import DataPaths

from .reference import MARKETPLACES
from .world import World, order_id_parts

ORDER_SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("order_date", pa.timestamp("s")),
        ("marketplace", pa.string()),
        ("sku", pa.string()),
        ("quantity", pa.int64()),
        ("unit_price", pa.float64()),
        ("currency", pa.string()),
    ]
)
INVENTORY_SCHEMA = pa.schema(
    [
        ("snapshot_date", pa.date32()),
        ("warehouse_id", pa.string()),
        ("sku", pa.string()),
        ("on_hand", pa.int64()),
    ]
)
AD_SCHEMA = pa.schema(
    [
        ("spend_date", pa.date32()),
        ("sku", pa.string()),
        ("marketplace", pa.string()),
        ("spend", pa.float64()),
        ("currency", pa.string()),
    ]
)
DAILY_ENTITIES = ("orders", "inventory", "ad_spend")

Columns = dict[str, np.ndarray]


def order_ids(numbers: np.ndarray, prefixes: np.ndarray) -> pa.Array:
    """Amazon-style ids (113-4829304-1234567) from unique counters, scrambled bijectively."""
    hi, lo = order_id_parts(numbers)
    a = pc.utf8_lpad(pa.array(hi).cast(pa.string()), width=7, padding="0")
    b = pc.utf8_lpad(pa.array(lo).cast(pa.string()), width=7, padding="0")
    return pc.binary_join_element_wise(pa.array(prefixes, pa.string()), a, b, "-")


class MonthlyWriter:
    """Buffers one month of rows of one entity; each month becomes one table (and file)."""

    def __init__(
        self,
        stem: str,
        schema: pa.Schema,
        build: Callable[[Columns], pa.Table],
        folder: Path | None,
    ):
        self.stem, self.schema, self.build, self.folder = stem, schema, build, folder
        self.parts: list[Columns] = []
        self.rows = 0
        self.files: list[Path] = []
        self.tables: list[pa.Table] = []  # kept when there is no folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def add(self, cols: Columns) -> None:
        if len(next(iter(cols.values()))):
            self.parts.append(cols)

    def flush(self, month: str, last_day: int | None = None) -> None:
        """Write (or keep) the rows added since the last flush as the table of ``month``;
        ``last_day``: the last simulated day (the weekly writer needs it)."""
        if not self.parts:
            return
        cols = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        self.parts = []
        self._write(month, cols)

    def _write(self, month: str, cols: Columns) -> None:
        table = self.build(cols).cast(self.schema)
        self.rows += table.num_rows
        if self.folder is None:
            self.tables.append(table)
            return
        path = self.folder / f"{self.stem}_{month}.parquet"
        pq.write_table(table, path)
        self.files.append(path)

    def table(self) -> pa.Table:
        """Every month kept in memory, as one table."""
        return pa.concat_tables(self.tables) if self.tables else self.schema.empty_table()


class WeeklyWriter(MonthlyWriter):
    """Daily rows (series, day, qty, price) in, one row per series and complete Monday-Sunday
    week out; the days of a week not over yet wait for the next flush."""

    def __init__(self, *args, first_weekday: int, **kw):
        super().__init__(*args, **kw)
        self.first_weekday = first_weekday  # weekday of day 0 (Monday = 0)

    def flush(self, month: str, last_day: int | None = None) -> None:
        if not self.parts:
            return
        if last_day is None:
            raise ValueError("the weekly writer needs the last simulated day to flush")
        cols = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        monday = cols["day"] - (self.first_weekday + cols["day"]) % 7
        done = monday + 6 <= last_day
        self.parts = [{k: v[~done] for k, v in cols.items()}] if (~done).any() else []
        if done.any():
            self._write(month, {k: v[done] for k, v in cols.items()} | {"monday": monday[done]})


class DailyOutputs:
    """The run's order, inventory and ad-spend writers, with the world's labels for rows."""

    def __init__(self, world: World, paths: DataPaths | None):
        s, cat = world.series, world.catalog
        self.world = world
        m_idx = s["m_idx"].to_numpy()
        mk = [MARKETPLACES[m] for m in world.markets]
        self.prefix = np.array([m.order_prefix for m in mk], dtype=object)[m_idx]
        self.warehouse = np.array([m.warehouse_id for m in mk], dtype=object)[m_idx]
        self.sku_codes = cat["sku"].to_numpy().astype(object)
        self.ser_sku = self.sku_codes[s["sku_idx"].to_numpy()]
        self.ser_mkt = s["marketplace"].to_numpy().astype(object)
        self.ser_ccy = s["currency"].to_numpy().astype(object)

        def folder(name: str) -> Path | None:
            return None if paths is None else paths.raw_entity(name)

        rows = world.scenario.order_rows
        orders: MonthlyWriter
        if rows == "weekly":
            orders = WeeklyWriter(
                "orders",
                ORDER_SCHEMA,
                self._weekly_orders,
                folder("orders"),
                first_weekday=world.start.weekday(),
            )
        else:
            build = self._daily_orders if rows == "daily" else self._orders
            orders = MonthlyWriter("orders", ORDER_SCHEMA, build, folder("orders"))
        self.writers = {
            "orders": orders,
            "inventory": MonthlyWriter(
                "inventory", INVENTORY_SCHEMA, self._inventory, folder("inventory")
            ),
            "ad_spend": MonthlyWriter("ad_spend", AD_SCHEMA, self._ad_spend, folder("ad_spend")),
        }

    def add(self, entity: str, cols: Columns) -> None:
        self.writers[entity].add(cols)

    def month_end(self, month: str, last_day: int | None = None) -> None:
        for w in self.writers.values():
            w.flush(month, last_day)

    def _dates(self, day: np.ndarray) -> pa.Array:
        return pa.array(np.datetime64(self.world.start) + day.astype("timedelta64[D]"))

    def _orders(self, c: Columns) -> pa.Table:
        o = np.lexsort((c["order_no"], c["ts"]))
        ser = c["series"][o]
        return pa.table(
            {
                "order_id": order_ids(c["order_no"][o], self.prefix[ser]),
                "order_date": pa.array(c["ts"][o].astype("datetime64[s]")),
                "marketplace": pa.array(self.ser_mkt[ser], pa.string()),
                "sku": pa.array(self.ser_sku[ser], pa.string()),
                "quantity": pa.array(c["qty"][o].astype(np.int64)),
                "unit_price": pa.array(c["price"][o]),
                "currency": pa.array(self.ser_ccy[ser], pa.string()),
            }
        )

    def _report_rows(self, kind: str, ser: np.ndarray, day: np.ndarray) -> dict[str, pa.Array]:
        """Order id, date and labels of one row per listing and day (or week's Monday)."""
        dates = self._dates(day).cast(pa.timestamp("s"))
        sku = pa.array(self.ser_sku[ser], pa.string())
        mkt = pa.array(self.ser_mkt[ser], pa.string())
        ids = pc.binary_join_element_wise(
            kind, pc.strftime(dates, format="%Y-%m-%d"), sku, mkt, "-"
        )
        return {"order_id": ids, "order_date": dates, "marketplace": mkt, "sku": sku}

    def _daily_orders(self, c: Columns) -> pa.Table:
        o = np.lexsort((c["series"], c["day"]))
        ser = c["series"][o]
        return pa.table(
            {
                **self._report_rows("D", ser, c["day"][o]),
                "quantity": pa.array(c["qty"][o].astype(np.int64)),
                "unit_price": pa.array(c["price"][o]),
                "currency": pa.array(self.ser_ccy[ser], pa.string()),
            }
        )

    def _weekly_orders(self, c: Columns) -> pa.Table:
        n_series = len(self.ser_sku)
        key = c["monday"].astype(np.int64) * n_series + c["series"]
        weeks, inv = np.unique(key, return_inverse=True)
        qty = np.bincount(inv, weights=c["qty"]).astype(np.int64)
        revenue = np.bincount(inv, weights=c["qty"] * c["price"])
        ser, monday = weeks % n_series, weeks // n_series
        return pa.table(
            {
                **self._report_rows("W", ser, monday),
                "quantity": pa.array(qty),
                "unit_price": pa.array(np.round(revenue / qty, 4)),
                "currency": pa.array(self.ser_ccy[ser], pa.string()),
            }
        )

    def _inventory(self, c: Columns) -> pa.Table:
        return pa.table(
            {
                "snapshot_date": self._dates(c["day"]),
                "warehouse_id": pa.array(c["wh"], pa.string()),
                "sku": pa.array(c["sku"], pa.string()),
                "on_hand": pa.array(c["on_hand"].astype(np.int64)),
            }
        )

    def _ad_spend(self, c: Columns) -> pa.Table:
        ser = c["series"]
        return pa.table(
            {
                "spend_date": self._dates(c["day"]),
                "sku": pa.array(self.ser_sku[ser], pa.string()),
                "marketplace": pa.array(self.ser_mkt[ser], pa.string()),
                "spend": pa.array(c["spend"]),
                "currency": pa.array(self.ser_ccy[ser], pa.string()),
            }
        )
