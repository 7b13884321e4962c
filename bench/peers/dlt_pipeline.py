"""dlt's side of bench/peers: the PostgreSQL products table into PostgreSQL, incremental on updated_at,
merged on the primary key, with dlt's documented fast path for SQL sources (pyarrow backend, arrow
tables written as CSV and loaded with COPY by the postgres destination).

Environment: DLT_SRC_URL (postgresql://…), DLT_DST_URL, DLT_TABLE (default products), DLT_DATASET
(destination schema), DLT_PIPELINES_DIR (local state; a fresh directory plus a dropped dataset is a
fresh start). Prints one JSON line with the rows dlt extracted.
"""
import json
import os
import time

import dlt
from dlt.sources.sql_database import sql_table

t0 = time.perf_counter()
products = sql_table(
    credentials=os.environ["DLT_SRC_URL"],
    table=os.environ.get("DLT_TABLE", "products"),
    # The fast backends: rows come out of SQLAlchemy as Arrow tables, not Python dicts.
    backend=os.environ.get("DLT_BACKEND", "pyarrow"),
    chunk_size=int(os.environ.get("DLT_CHUNK_SIZE", "50000")),
    incremental=dlt.sources.incremental("updated_at"),
    write_disposition="merge",
    primary_key="id",
    # Exact numeric(12,2) and timestamp precision in the destination, like the other loaders.
    reflection_level="full_with_precision",
)
pipeline = dlt.pipeline(
    pipeline_name="bench_peers_dlt",
    destination=dlt.destinations.postgres(os.environ["DLT_DST_URL"]),
    dataset_name=os.environ.get("DLT_DATASET", "dlt_bench"),
    pipelines_dir=os.environ.get("DLT_PIPELINES_DIR"),
)
# csv is the postgres destination's bulk format (COPY); its default, insert_values, sends INSERT statements.
info = pipeline.run(products, loader_file_format=os.environ.get("DLT_FILE_FORMAT", "csv"))
rows = pipeline.last_trace.last_normalize_info.row_counts.get(products.name, 0) if pipeline.last_trace.last_normalize_info else 0
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - t0, "loads": len(info.loads_ids)}))
