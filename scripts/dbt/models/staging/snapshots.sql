-- One row per committed snapshot (its `_snapshots/.../_manifest.json` exists), with whether
-- it is its workspace's latest.
select snapshot_id, cast(snapshot_date as date) as snapshot_date, workspace,
       cast(run_at as timestamptz) as run_at, api_dialect, tool_version,
       snapshot_id = max(snapshot_id) over (partition by workspace) as is_latest
from read_json('{{ drata_root() }}/_snapshots/**/_manifest.json', format = 'auto', maximum_object_size = 1073741824,
    columns = {snapshot_id: 'VARCHAR', snapshot_date: 'VARCHAR', workspace: 'VARCHAR', run_at: 'VARCHAR',
               api_dialect: 'VARCHAR', tool_version: 'VARCHAR'})
