{#- The output root without a trailing slash: every committed path is relative to it. -#}
{% macro drata_root() -%}
{{ (var('out') | string | trim).rstrip('/') }}
{%- endmacro %}

{#- Every row of `table` in every committed snapshot, with the snapshot it belongs to
    (snapshot_id, snapshot_date, workspace, run_at, api_dialect, and snapshot_key =
    workspace/snapshot_id). Reads exactly the files the snapshots' manifests list (never a
    bare glob of the table folder, which can briefly hold a partition whose commit has not
    finished), by name, so files written by older versions (fewer columns) read as nulls. -#}
{% macro committed(table) -%}
select t.* exclude (filename),
       f.snapshot_id, cast(f.snapshot_date as date) as snapshot_date, f.workspace, f.run_at, f.api_dialect,
       coalesce(f.workspace, '') || '/' || f.snapshot_id as snapshot_key
from read_parquet('{{ drata_root() }}/{{ table }}/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true) t
join {{ ref('committed_files') }} f
  on f.tbl = '{{ table }}' and t.filename = f.full_path
{%- endmacro %}

{#- The rows of `history` (a *_history model) in the latest committed snapshot of each
    workspace (latest = the greatest snapshot id, as `drata-etl` decides it). -#}
{% macro latest_of(history) -%}
select h.* from {{ ref(history) }} h
join {{ ref('snapshots') }} s
  on s.snapshot_id = h.snapshot_id and s.workspace is not distinct from h.workspace and s.is_latest
{%- endmacro %}
