//! [`FlushGuard`]: delivers what is queued when the program ends.

use std::time::Duration;

use crate::handle::Handle;

/// Flushes the layer and shuts its sinks down when dropped, waiting at most
/// its timeout (5 s unless set with
/// [`LoggerFlowLayer::flush_timeout`](crate::LoggerFlowLayer::flush_timeout)).
///
/// Keep it alive for as long as the program runs: bind it in `main` with
/// `let _guard = ...` (not `let _ = ...`, which drops it at once). Dropping
/// it blocks the dropping thread up to the timeout; in async code prefer
/// [`Handle::shutdown`].
#[must_use = "dropping the guard flushes at once: bind it with `let _guard = ...` in main"]
#[derive(Debug)]
pub struct FlushGuard {
    handle: Handle,
    timeout: Duration,
}

impl FlushGuard {
    pub(crate) fn new(handle: Handle, timeout: Duration) -> Self {
        Self { handle, timeout }
    }

    /// The handle of the guarded layer.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        if !self.handle.shutdown_blocking(self.timeout) {
            crate::diag::warn(format_args!(
                "some reports were not delivered within {:?}",
                self.timeout
            ));
        }
    }
}
