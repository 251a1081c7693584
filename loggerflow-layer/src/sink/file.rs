//! [`FileSink`]: appends each report to a file.

use std::borrow::Cow;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Delivery, Sink, SinkError};

/// Appends each report to a file as one block, creating the file and its
/// parent directories when missing.
///
/// A block is a header line (`=== project | LEVEL | time | id ===`), the
/// report rendered in the layer's trace mode, and a blank line. Writes go
/// through a blocking thread, one block per `write` call, so concurrent
/// blocks never interleave.
#[derive(Debug, Clone)]
pub struct FileSink {
    path: Arc<PathBuf>,
    lock: Arc<Mutex<()>>,
}

impl FileSink {
    /// A sink that appends to `path`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: Arc::new(path.as_ref().to_path_buf()),
            lock: Arc::new(Mutex::new(())),
        }
    }

    /// The file reports are appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }

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

#[async_trait::async_trait]
impl Sink for FileSink {
    fn name(&self) -> Cow<'static, str> {
        Cow::Owned(format!("file:{}", self.path.display()))
    }

    async fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        let sink = self.clone();
        let block = block(delivery);
        tokio::task::spawn_blocking(move || sink.append(&block))
            .await
            .map_err(SinkError::retryable)?
    }
}
