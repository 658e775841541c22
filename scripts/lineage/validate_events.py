#!/usr/bin/env python3
"""Validate drata-etl's OpenLineage run events, strictly, two independent ways.

Usage: validate_events.py EVENTS.jsonl
(one JSON event per line, as --openlineage-file writes them and the e2e test's receiver
stores them). Exit 0 and one JSON line on stdout ({"events": N, "types": [...]}) when every
event passes; exit 1 with the reason on stderr otherwise.

1. JSON Schema (draft 2020-12, the `jsonschema` package): each event against
   OpenLineage.json#/$defs/RunEvent, and each facet against the schema its `_schemaURL`
   names: the OpenLineage facet schemas in spec/ (no PyPI package ships them: they are
   copied from the OpenLineage repository, see spec/README.md) and drata-etl's own run
   facet (schemas/openlineage/DrataEtlRunFacet.json). A facet whose schema is not known
   fails: nothing is waved through.
2. The OpenLineage Python client's own classes (openlineage-python, attrs): each event is
   rebuilt from them field by field, so an unknown field or a missing required one is a
   TypeError; the facet's `_schemaURL` must equal the one the client's class declares (same
   facet version), run ids must be UUIDs (the client checks), and the rebuilt event,
   serialised by the client, must equal the event read (nothing dropped).
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime
from pathlib import Path

import attr
import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated import (
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    schema_dataset,
)
from openlineage.client.generated.base import RunFacet
from openlineage.client.serde import Serde

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def load_registry() -> Registry:
    files = [HERE / "spec" / "OpenLineage.json", REPO / "schemas" / "openlineage" / "DrataEtlRunFacet.json"]
    files += sorted((HERE / "spec" / "facets").glob("*.json"))
    resources = []
    for f in files:
        doc = json.loads(f.read_text(encoding="utf-8"))
        resources.append((doc["$id"], Resource.from_contents(doc, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


REGISTRY = load_registry()
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER


def check_schema(instance: object, ref: str, where: str) -> None:
    base = ref.split("#", 1)[0]
    try:
        REGISTRY[base]
    except Exception:
        raise ValueError(f"{where}: no known schema for _schemaURL {ref}") from None
    validator = jsonschema.Draft202012Validator({"$ref": ref}, registry=REGISTRY, format_checker=FORMATS)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        path = "/".join(str(p) for p in e.absolute_path)
        raise ValueError(f"{where}: {ref}: at /{path}: {e.message}")


def facets_of(event: dict) -> list[tuple[str, dict]]:
    out = [(f"run.facets.{k}", v) for k, v in event["run"].get("facets", {}).items()]
    out += [(f"job.facets.{k}", v) for k, v in event["job"].get("facets", {}).items()]
    for side in ("inputs", "outputs"):
        for i, d in enumerate(event.get(side, [])):
            for group in ("facets", "inputFacets", "outputFacets"):
                out += [(f"{side}[{i}].{group}.{k}", v) for k, v in d.get(group, {}).items()]
    return out


def by_json_schema(event: dict, where: str) -> None:
    if event.get("schemaURL") != RUN_EVENT:
        raise ValueError(f"{where}: schemaURL is {event.get('schemaURL')!r}, expected {RUN_EVENT}")
    check_schema(event, RUN_EVENT, where)
    for path, facet in facets_of(event):
        check_schema(facet, facet["_schemaURL"], f"{where} {path}")
    # Formats the installed jsonschema may not check without optional packages.
    uuid.UUID(event["run"]["runId"])
    datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))


@attr.define
class DrataEtlRunFacet(RunFacet):
    """drata-etl's run facet, as a client class (schemas/openlineage/DrataEtlRunFacet.json)."""

    snapshotId: str  # noqa: N815
    snapshotDate: str  # noqa: N815
    workspace: str | None = attr.field(default=None)
    manifest: str | None = attr.field(default=None)
    toolRunId: str | None = attr.field(default=None)  # noqa: N815
    apiDialect: str | None = attr.field(default=None)  # noqa: N815
    exitCode: int | None = attr.field(default=None)  # noqa: N815
    errorKind: str | None = attr.field(default=None)  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return "urn:drata-etl:schemas/openlineage/DrataEtlRunFacet.json#/$defs/DrataEtlRunFacet"


RUN_FACETS = {
    "nominalTime": nominal_time_run.NominalTimeRunFacet,
    "errorMessage": error_message_run.ErrorMessageRunFacet,
    "drata_etl": DrataEtlRunFacet,
}
JOB_FACETS = {"jobType": job_type_job.JobTypeJobFacet}
DATASET_FACETS = {"schema": schema_dataset.SchemaDatasetFacet}
OUTPUT_FACETS = {"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet}


def schema_fields(items: list) -> list:
    return [
        schema_dataset.SchemaDatasetFacetFields(
            **{**f, **({"fields": schema_fields(f["fields"])} if "fields" in f else {})}
        )
        for f in items
    ]


def facet(classes: dict, key: str, data: dict, where: str):
    cls = classes.get(key)
    if cls is None:
        raise ValueError(f"{where}: facet {key!r} is not one the client knows here")
    data = dict(data)
    producer = data.pop("_producer")
    schema_url = data.pop("_schemaURL")
    if cls is schema_dataset.SchemaDatasetFacet:
        data["fields"] = schema_fields(data["fields"])
    obj = cls(producer=producer, **data)  # unknown or missing fields: TypeError
    if obj._schemaURL != schema_url:
        raise ValueError(f"{where}: facet {key} says _schemaURL {schema_url}, the client's class {obj._schemaURL}")
    return obj


def facets(classes: dict, data: dict | None, where: str) -> dict:
    return {k: facet(classes, k, v, f"{where}.{k}") for k, v in (data or {}).items()}


def strict_keys(data: dict, allowed: set, where: str) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}")


def by_client_classes(event: dict, where: str) -> None:
    strict_keys(event, {"eventType", "eventTime", "producer", "schemaURL", "run", "job", "inputs", "outputs"}, where)
    strict_keys(event["run"], {"runId", "facets"}, f"{where} run")
    strict_keys(event["job"], {"namespace", "name", "facets"}, f"{where} job")
    inputs = []
    for i, d in enumerate(event.get("inputs", [])):
        strict_keys(d, {"namespace", "name", "facets", "inputFacets"}, f"{where} inputs[{i}]")
        inputs.append(
            InputDataset(
                namespace=d["namespace"],
                name=d["name"],
                facets=facets(DATASET_FACETS, d.get("facets"), f"inputs[{i}]"),
                inputFacets=facets({}, d.get("inputFacets"), f"inputs[{i}]"),
            )
        )
    outputs = []
    for i, d in enumerate(event.get("outputs", [])):
        strict_keys(d, {"namespace", "name", "facets", "outputFacets"}, f"{where} outputs[{i}]")
        outputs.append(
            OutputDataset(
                namespace=d["namespace"],
                name=d["name"],
                facets=facets(DATASET_FACETS, d.get("facets"), f"outputs[{i}]"),
                outputFacets=facets(OUTPUT_FACETS, d.get("outputFacets"), f"outputs[{i}]"),
            )
        )
    rebuilt = RunEvent(
        eventType=RunState(event["eventType"]),
        eventTime=event["eventTime"],
        producer=event["producer"],
        run=Run(runId=event["run"]["runId"], facets=facets(RUN_FACETS, event["run"].get("facets"), "run")),
        job=Job(
            namespace=event["job"]["namespace"],
            name=event["job"]["name"],
            facets=facets(JOB_FACETS, event["job"].get("facets"), "job"),
        ),
        inputs=inputs,
        outputs=outputs,
    )
    if rebuilt.schemaURL != event["schemaURL"]:
        raise ValueError(f"{where}: schemaURL {event['schemaURL']} is not the client's {rebuilt.schemaURL}")
    again = drop_empty(Serde.to_dict(rebuilt))
    read = drop_empty(event)
    if again != read:
        raise ValueError(f"{where}: the client's serialisation differs from the event: {first_difference(again, read)}")


def drop_empty(v):
    """Empty facet maps and lists are absent in one form and `{}`/`[]` in the other: the same event."""
    if isinstance(v, dict):
        return {k: drop_empty(x) for k, x in v.items() if x not in ({}, [], None)}
    if isinstance(v, list):
        return [drop_empty(x) for x in v]
    return v


def first_difference(a, b, path="") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return first_difference(a.get(k), b.get(k), f"{path}/{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}/{i}")
    return f"at {path or '/'}: client {a!r}, event {b!r}"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    lines = [line for line in Path(sys.argv[1]).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        print(f"{sys.argv[1]}: no events", file=sys.stderr)
        return 1
    types = []
    for n, line in enumerate(lines, 1):
        where = f"event {n}"
        try:
            event = json.loads(line)
            by_json_schema(event, where)
            by_client_classes(event, where)
        except Exception as e:  # every failure is reported the same way: which event, why
            print(f"{where}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        types.append(event["eventType"])
    print(json.dumps({"events": len(lines), "types": types}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
