//! Where an output root's table folders, and the table-format logs beside them
//! (`--table-format delta`), are: a local folder or an object store. Named by the run and
//! by the reading commands (`store` knows which), used by `table_log` and `delta::log`.

use object_store::ObjectStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where an output root's table folders (and their Delta logs) are.
#[derive(Clone)]
pub enum LogRoot {
    Folder(PathBuf),
    /// An object store: `store` is rooted at the bucket (or container), `prefix` is the
    /// output root inside it (no leading or trailing `/`), `url` the root as the user wrote
    /// it (`s3://bucket/prefix`, for messages and the Delta table URL).
    Store {
        store: Arc<dyn ObjectStore>,
        prefix: String,
        url: String,
    },
}

impl std::fmt::Debug for LogRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

impl LogRoot {
    /// The root as the user named it.
    pub fn label(&self) -> String {
        match self {
            LogRoot::Folder(p) => p.display().to_string(),
            LogRoot::Store { url, .. } => url.clone(),
        }
    }

    /// A table folder as the user would name it.
    pub fn table_label(&self, table: &str) -> String {
        match self {
            LogRoot::Folder(p) => p.join(table).display().to_string(),
            LogRoot::Store { url, .. } => format!("{url}/{table}"),
        }
    }

    pub fn folder(path: &Path) -> LogRoot {
        LogRoot::Folder(path.to_path_buf())
    }
}
