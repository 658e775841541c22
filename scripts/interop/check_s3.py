"""Read committed snapshots from an S3-compatible store the way an independent reader would.

Usage: check_s3.py ENDPOINT BUCKET/PREFIX

Uses only pyarrow's own S3 filesystem (bundled in its wheel). For every
`_snapshots/[workspace=W/]<id>/_manifest.json` under the prefix, reads each Parquet file the
manifest lists, checks its size, sha256 and row count against the manifest, and prints one
JSON object: {"snapshots": {id: {table: rows}}, "unlisted": [keys]} where `unlisted` are
Parquet objects under a table folder that no manifest lists (a glob reader would see them).
Exits 1 on any mismatch. Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
"""

import hashlib
import json
import sys

import pyarrow.fs as pafs
import pyarrow.parquet as pq
from roots import s3_filesystem


def main() -> int:
    endpoint, root = sys.argv[1], sys.argv[2].strip("/")
    fs = s3_filesystem(endpoint)
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    keys = sorted(i.path for i in infos if i.type == pafs.FileType.File)
    problems = []
    snapshots = {}
    listed = set()
    for key in keys:
        rel = key[len(root) + 1 :]
        if not (rel.startswith("_snapshots/") and rel.endswith("/_manifest.json")):
            continue
        with fs.open_input_stream(key) as f:
            manifest = json.loads(f.read())
        counts = {}
        for table, entry in manifest["tables"].items():
            rows = 0
            for fe in entry["files"]:
                path = f"{root}/{fe['path']}"
                listed.add(path)
                with fs.open_input_stream(path) as f:
                    data = f.read()
                if len(data) != fe["bytes"]:
                    problems.append(f"{path}: {len(data)} bytes, manifest says {fe['bytes']}")
                if hashlib.sha256(data).hexdigest() != fe["sha256"]:
                    problems.append(f"{path}: sha256 differs from the manifest")
                n = pq.ParquetFile(fs.open_input_file(path)).metadata.num_rows
                if n != fe["rows"]:
                    problems.append(f"{path}: {n} rows, manifest says {fe['rows']}")
                rows += pq.read_table(path, filesystem=fs).num_rows
            if rows != entry["rows"]:
                problems.append(f"{table}: {rows} rows read, manifest says {entry['rows']}")
            counts[table] = rows
        snapshots[manifest["snapshot_id"]] = counts
    unlisted = [
        k[len(root) + 1 :]
        for k in keys
        if k.endswith(".parquet") and not k[len(root) + 1 :].startswith("_") and k not in listed
    ]
    print(json.dumps({"snapshots": snapshots, "unlisted": unlisted, "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
