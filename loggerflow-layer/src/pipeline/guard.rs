//! [`FlushGuard`]: delivers what is queued when the program ends.

use std::sync::atomic::Ordering;

use super::handle::Handle;

/// Flushes the layer when dropped and, when it is the last guard of its
/// layer alive, shuts the sinks down (a lifecycle sink says goodbye),
/// waiting at most the layer's flush timeout (5 s unless set with
/// [`LoggerFlowBuilder::flush_timeout`](crate::LoggerFlowBuilder::flush_timeout)).
///
/// What a flush promises is what [`Handle::flush`] says: every report
/// captured before the drop was delivered (acknowledged by the server, for
/// the lifecycle sinks) or the timeout passed. A layer shuts down once,
/// however many guards it has: dropping one of two guards only flushes.
///
/// Keep it alive for as long as the program runs: bind it in `main` with
/// `let _guard = ...` (not `let _ = ...`, which drops it at once). Dropping
/// it blocks the dropping thread up to the timeout; in async code prefer
/// [`Handle::shutdown`].
#[must_use = "dropping the guard flushes at once: bind it with `let _guard = ...` in main"]
#[derive(Debug)]
pub struct FlushGuard {
    handle: Handle,
}

impl FlushGuard {
    pub(crate) fn new(handle: Handle) -> Self {
        handle.core.guards.fetch_add(1, Ordering::AcqRel);
        Self { handle }
    }

    /// The handle of the guarded layer.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        let timeout = self.handle.flush_timeout();
        let last = self.handle.core.guards.fetch_sub(1, Ordering::AcqRel) == 1;
        let delivered = if last {
            self.handle.shutdown_blocking(timeout)
        } else {
            self.handle.flush(timeout)
        };
        if !delivered {
            crate::diag::warn(format_args!(
                "not every report was delivered (one was lost, or {timeout:?} passed first; Handle::stats says which sink)"
            ));
        }
    }
}
