//! [`FileSink`]: appends each report to a file.

use std::borrow::Cow;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Blocking, BlockingSink, Delivery, Sink, SinkError};

/// Appends each report to a file as one block, creating the file and its
/// parent directories when missing.
///
/// A block is a header line (`=== project | LEVEL | time | id ===`), the
/// report rendered in the layer's trace mode, and a blank line. Writes go
/// through a blocking thread, one block per `write` call, so concurrent
/// blocks never interleave.
#[derive(Clone)]
pub struct FileSink {
    writer: Arc<Blocking<Writer>>,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("path", &self.path())
            .finish()
    }
}

/// The blocking writer behind a [`FileSink`], run on tokio's blocking pool.
struct Writer {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileSink {
    /// A sink that appends to `path`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            writer: Arc::new(Blocking::new(Writer {
                path: path.as_ref().to_path_buf(),
                lock: Mutex::new(()),
            })),
        }
    }

    /// The file reports are appended to.
    pub fn path(&self) -> &Path {
        &self.writer.sink.path
    }
}

impl Writer {
    fn append(&self, block: &str) -> Result<(), SinkError> {
        let _serial = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let path = self.path.as_path();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| {
                SinkError::io(
                    format_args!("cannot create directory {}", parent.display()),
                    &e,
                )
            })?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                SinkError::io(
                    format_args!("cannot open {} for appending", path.display()),
                    &e,
                )
            })?;
        file.write_all(block.as_bytes())
            .map_err(|e| SinkError::io(format_args!("cannot write to {}", path.display()), &e))
    }
}

/// The block written for one delivery.
pub(crate) fn block(delivery: &Delivery) -> String {
    let report = delivery.report();
    let mut block = String::with_capacity(delivery.text().len() + 160);
    if delivery.dropped_before() > 0 {
        block.push_str(&format!(
            "=== {} earlier report(s) were dropped: the queue was full ===\n",
            delivery.dropped_before()
        ));
    }
    block.push_str(&format!(
        "=== {} | {} | {} | {} ===\n{}\n\n",
        report.project,
        report.level,
        report
            .timestamp
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        report.id,
        delivery.text()
    ));
    block
}

impl BlockingSink for Writer {
    fn name(&self) -> Cow<'static, str> {
        Cow::Owned(format!("file:{}", self.path.display()))
    }

    fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        self.append(&block(delivery))
    }
}

#[async_trait::async_trait]
impl Sink for FileSink {
    fn name(&self) -> Cow<'static, str> {
        self.writer.name()
    }

    async fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        self.writer.send(delivery).await
    }
}
