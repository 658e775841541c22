-- One row per Parquet file a committed manifest lists: (snapshot, table, path).
with manifests as (
    select snapshot_id, snapshot_date, workspace, run_at, api_dialect, tables
    from read_json('{{ drata_root() }}/_snapshots/**/_manifest.json', format = 'auto', maximum_object_size = 1073741824,
        columns = {snapshot_id: 'VARCHAR', snapshot_date: 'VARCHAR', workspace: 'VARCHAR', run_at: 'VARCHAR',
                   api_dialect: 'VARCHAR', tables: 'MAP(VARCHAR, STRUCT(files STRUCT(path VARCHAR)[]))'})
), per_table as (
    select snapshot_id, snapshot_date, workspace, cast(run_at as timestamptz) as run_at, api_dialect,
           unnest(map_keys(tables)) as tbl, unnest(map_values(tables)) as entry
    from manifests
)
select snapshot_id, snapshot_date, workspace, run_at, api_dialect, tbl,
       unnest(entry.files).path as path,
       '{{ drata_root() }}/' || unnest(entry.files).path as full_path
from per_table
