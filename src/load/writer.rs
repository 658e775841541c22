//! `TableWriter`: streams rows of one table into zstd Parquet part files in a staging
//! directory, hashing every byte as it is written so the manifest's sha256 costs no re-read.
//!
//! Rows arrive as records (`push`, converted a batch at a time) or, when an incremental run
//! reuses an earlier snapshot's rows, as Arrow batches already (`push_batch`); either way
//! this run's `snapshot_at` is stamped here. Memory is bounded by one Arrow batch of rows
//! plus the Parquet writer's open row group; a part file is closed and a new one started
//! after `rows_per_file` rows.

use super::batch::{stamp, to_batch, TableRow};
use super::layout::part_file_name;
use super::manifest::FileEntry;
use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{WriterProperties, WriterVersion};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// Sizes that bound a writer's memory and its files.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Rows converted to Arrow at a time.
    pub batch_rows: usize,
    /// Rows per Parquet row group (the writer buffers one encoded row group).
    pub row_group_rows: usize,
    /// Rows per part file before rolling to the next one.
    pub rows_per_file: u64,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { batch_rows: 8192, row_group_rows: 65_536, rows_per_file: 2_000_000 }
    }
}

/// A `Write` that counts and hashes what passes through it.
struct HashingWrite {
    inner: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashingWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct OpenPart {
    writer: ArrowWriter<HashingWrite>,
    file_name: String,
    rows: u64,
}

/// Writes one table's rows into `dir/part-NNNNN.parquet` files.
pub struct TableWriter<R: TableRow> {
    dir: PathBuf,
    /// Path of the files relative to the output root once committed (for the manifest).
    final_dir: PathBuf,
    opts: WriterOptions,
    snapshot_at_micros: i64,
    workspace: Option<String>,
    /// In every file name (`layout::part_file_name`), when set.
    run_tag: Option<String>,
    buffer: Vec<R>,
    open: Option<OpenPart>,
    done: Vec<FileEntry>,
    _row: PhantomData<R>,
}

impl<R: TableRow> TableWriter<R> {
    pub fn create(
        dir: &Path,
        final_dir: &Path,
        snapshot_at_micros: i64,
        workspace: Option<&str>,
        opts: WriterOptions,
        run_tag: Option<&str>,
    ) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(TableWriter {
            dir: dir.to_path_buf(),
            final_dir: final_dir.to_path_buf(),
            opts,
            snapshot_at_micros,
            workspace: workspace.map(str::to_owned),
            run_tag: run_tag.map(str::to_owned),
            buffer: Vec::with_capacity(opts.batch_rows.min(1024)),
            open: None,
            done: Vec::new(),
            _row: PhantomData,
        })
    }

    pub fn push(&mut self, row: R) -> io::Result<()> {
        self.buffer.push(row);
        if self.buffer.len() >= self.opts.batch_rows {
            self.flush_buffer()?;
        }
        Ok(())
    }

    fn properties(&self) -> WriterProperties {
        WriterProperties::builder()
            .set_writer_version(WriterVersion::PARQUET_1_0)
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid level")))
            .set_max_row_group_row_count(Some(self.opts.row_group_rows))
            .set_created_by(format!("drata-etl version {}", env!("CARGO_PKG_VERSION")))
            // A file read on its own (outside the Hive layout) still says whose it is.
            .set_key_value_metadata(
                self.workspace.as_ref().map(|w| vec![KeyValue::new("drata_etl.workspace".to_string(), w.clone())]),
            )
            .build()
    }

    fn open_part(&mut self) -> io::Result<&mut OpenPart> {
        if self.open.is_none() {
            let file_name = part_file_name(self.done.len(), self.run_tag.as_deref());
            let file = File::create(self.dir.join(&file_name))?;
            let sink = HashingWrite { inner: BufWriter::with_capacity(1 << 20, file), hasher: Sha256::new(), bytes: 0 };
            let writer = ArrowWriter::try_new(sink, R::schema(), Some(self.properties())).map_err(io_err)?;
            self.open = Some(OpenPart { writer, file_name, rows: 0 });
        }
        Ok(self.open.as_mut().expect("just opened"))
    }

    /// Write rows that already are Arrow columns (the rows of an earlier snapshot an
    /// incremental run reuses): `columns` holds the table's own columns in `row_schema`
    /// order, and every row gets this run's `snapshot_at`. Rows pushed before come first.
    pub fn push_batch(&mut self, columns: &RecordBatch) -> io::Result<()> {
        self.flush_buffer()?;
        let batch = stamp::<R>(columns.columns().to_vec(), self.snapshot_at_micros)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.write_rows(&batch)
    }

    fn flush_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = to_batch(&self.buffer, self.snapshot_at_micros);
        self.buffer.clear();
        self.write_rows(&batch)
    }

    /// Write `batch` into part files, rolling to the next file at `rows_per_file`.
    fn write_rows(&mut self, batch: &RecordBatch) -> io::Result<()> {
        let mut start = 0;
        while start < batch.num_rows() {
            let limit = self.opts.rows_per_file;
            let part = self.open_part()?;
            let len = ((limit - part.rows) as usize).min(batch.num_rows() - start);
            part.writer.write(&batch.slice(start, len)).map_err(io_err)?;
            part.rows += len as u64;
            start += len;
            if part.rows >= limit {
                self.close_part()?;
            }
        }
        Ok(())
    }

    fn close_part(&mut self) -> io::Result<()> {
        if let Some(part) = self.open.take() {
            let mut sink = part.writer.into_inner().map_err(io_err)?;
            sink.flush()?;
            sink.inner.get_ref().sync_all()?;
            #[cfg(debug_assertions)]
            test_slow_disk(R::TABLE.name());
            self.done.push(FileEntry {
                path: self.final_dir.join(&part.file_name).to_string_lossy().replace('\\', "/"),
                rows: part.rows,
                bytes: sink.bytes,
                sha256: hex::encode(sink.hasher.finalize()),
            });
        }
        Ok(())
    }

    /// Flush and close; a table with no rows still gets one (empty) file so readers see
    /// its schema. Returns the files written, described for the manifest.
    pub fn finish(mut self) -> io::Result<Vec<FileEntry>> {
        self.flush_buffer()?;
        if self.done.is_empty() && self.open.is_none() {
            self.open_part()?;
        }
        self.close_part()?;
        Ok(self.done)
    }
}

/// TEST-ONLY hook, compiled into debug builds only (release builds ignore the variable):
/// `DRATA_ETL_TEST_SLOW_WRITE=MS` (every table) or `=TABLE:MS` makes closing each part file
/// take MS milliseconds longer, as a slow or stalled disk would, so the end-to-end tests can
/// show `--deadline` bounding the writing stage. Not a user setting.
#[cfg(debug_assertions)]
fn test_slow_disk(table: &str) {
    let Ok(spec) = std::env::var("DRATA_ETL_TEST_SLOW_WRITE") else { return };
    let (only, ms) = match spec.split_once(':') {
        Some((t, ms)) => (Some(t.to_string()), ms.to_string()),
        None => (None, spec),
    };
    if only.is_none_or(|t| t == table) {
        std::thread::sleep(std::time::Duration::from_millis(ms.trim().parse().unwrap_or(0)));
    }
}

fn io_err(e: parquet::errors::ParquetError) -> io::Error {
    io::Error::other(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Control;
    use arrow::array::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn control(i: usize) -> Control {
        Control { id: format!("DCF-{i}"), name: Some(format!("Control {i}")), ..Default::default() }
    }

    /// A writer of small batches, row groups and files, stamping `snapshot_at` 7.
    fn small_writer(dir: &Path) -> TableWriter<Control> {
        let opts = WriterOptions { batch_rows: 3, row_group_rows: 4, rows_per_file: 5 };
        TableWriter::create(dir, Path::new("controls/x"), 7, None, opts, None).unwrap()
    }

    #[test]
    fn rolls_files_and_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = small_writer(tmp.path());
        for i in 0..12 {
            w.push(control(i)).unwrap();
        }
        let files = w.finish().unwrap();
        assert_eq!(files.iter().map(|f| f.rows).collect::<Vec<_>>(), vec![5, 5, 2]);
        assert_eq!(files[0].path, "controls/x/part-00000.parquet");
        let mut ids = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let bytes = std::fs::read(tmp.path().join(part_file_name(i, None))).unwrap();
            assert_eq!(bytes.len() as u64, f.bytes);
            assert_eq!(hex::encode(Sha256::digest(&bytes)), f.sha256);
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap().build().unwrap();
            for b in reader {
                let b = b.unwrap();
                let col = b.column(0).as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
                ids.extend(col.iter().map(|s| s.unwrap().to_string()));
            }
        }
        assert_eq!(ids, (0..12).map(|i| format!("DCF-{i}")).collect::<Vec<_>>());
    }

    #[test]
    fn pushed_batches_follow_pushed_rows_roll_files_and_get_this_runs_snapshot_at() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = small_writer(tmp.path());
        for i in 0..2 {
            w.push(control(i)).unwrap();
        }
        // Rows of an earlier snapshot: the table's own columns, stamped 1 back then.
        let earlier = crate::load::batch::to_batch(&(2..8).map(control).collect::<Vec<_>>(), 1);
        let mut own = earlier.columns().to_vec();
        own.remove(<Control as crate::load::batch::TableRow>::SNAPSHOT_AT);
        w.push_batch(&RecordBatch::try_new(crate::load::batch::row_schema::<Control>(), own).unwrap()).unwrap();
        w.push(control(8)).unwrap();
        let files = w.finish().unwrap();
        assert_eq!(files.iter().map(|f| f.rows).collect::<Vec<_>>(), vec![5, 4]);
        let (mut ids, mut stamps) = (Vec::new(), Vec::new());
        let batches = (0..files.len()).flat_map(|i| {
            let f = File::open(tmp.path().join(part_file_name(i, None))).unwrap();
            ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap().map(Result::unwrap)
        });
        for b in batches {
            ids.extend(b.column(0).as_string::<i32>().iter().map(|s| s.unwrap().to_string()));
            let at =
                b.column_by_name("snapshot_at").unwrap().as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            stamps.extend(at.values().iter().copied());
        }
        assert_eq!(ids, (0..9).map(|i| format!("DCF-{i}")).collect::<Vec<_>>());
        assert_eq!(stamps, vec![7; 9]);
    }

    #[test]
    fn a_batch_that_is_not_the_tables_columns_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w: TableWriter<Control> =
            TableWriter::create(tmp.path(), Path::new("c"), 0, None, WriterOptions::default(), None).unwrap();
        let wrong = RecordBatch::try_from_iter([(
            "id",
            std::sync::Arc::new(arrow::array::Int32Array::from(vec![1])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        assert_eq!(w.push_batch(&wrong).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn empty_table_still_has_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        let w: TableWriter<Control> =
            TableWriter::create(tmp.path(), Path::new("c"), 0, None, WriterOptions::default(), None).unwrap();
        let files = w.finish().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].rows, 0);
    }
}
