"""What the interop checkers share about an output root: its committed manifests, and
pyarrow's S3 filesystem for a root in an S3-compatible store.

Imported by check_delta.py, check_s3.py and check_spark.py (run as scripts, so this folder
is on their import path). Standard library only at import time: pyarrow is imported when an
S3 filesystem is asked for.
"""

import glob
import json
import os
from urllib.parse import urlparse


def manifests(out):
    """Every `_snapshots/[workspace=W/]<id>/_manifest.json` under a local root, parsed, in
    path order."""
    found = glob.glob(os.path.join(out, "_snapshots", "*", "_manifest.json"))
    found += glob.glob(os.path.join(out, "_snapshots", "workspace=*", "*", "_manifest.json"))
    result = []
    for path in sorted(found):
        with open(path) as f:
            result.append(json.load(f))
    return result


def s3_filesystem(endpoint):
    """pyarrow's S3 filesystem for an endpoint URL (http or https), with the credentials in
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and AWS_REGION (default us-east-1)."""
    import pyarrow.fs as pafs

    url = urlparse(endpoint)
    return pafs.S3FileSystem(
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        endpoint_override=url.netloc,
        scheme=url.scheme,
        region=os.environ.get("AWS_REGION", "us-east-1"),
    )
