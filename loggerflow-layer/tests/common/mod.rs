//! Helpers shared by the integration tests.
#![allow(dead_code, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use loggerflow_layer::sink::{Delivery, Sink, SinkError};

/// A sink that keeps every delivery in memory.
#[derive(Clone, Default)]
pub struct MemorySink {
    pub deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl MemorySink {
    pub fn taken(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }
}

#[loggerflow_layer::sink::async_trait]
impl Sink for MemorySink {
    fn name(&self) -> std::borrow::Cow<'static, str> {
        "memory".into()
    }

    async fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        self.deliveries
            .lock()
            .map_err(|_| SinkError::permanent("poisoned"))?
            .push(delivery.clone());
        Ok(())
    }
}

pub const WAIT: Duration = Duration::from_secs(20);

/// A sink that refuses every report for good.
pub struct Refusing;

#[loggerflow_layer::sink::async_trait]
impl Sink for Refusing {
    async fn send(&self, _delivery: &Delivery) -> Result<(), SinkError> {
        Err(SinkError::permanent("401 Unauthorized"))
    }
}

/// Holds the layer's worker on the first report that reaches a
/// `before_send` hook (which runs on the worker), so that the layer's queue
/// fills behind it, until released.
pub struct Hold {
    held: Arc<std::sync::atomic::AtomicUsize>,
    release: std::sync::mpsc::Sender<()>,
}

impl Hold {
    /// The hold, and the `before_send` hook that holds.
    pub fn new() -> (
        Self,
        impl Fn(&mut loggerflow_layer::Report) -> bool + Send + Sync + 'static,
    ) {
        use std::sync::atomic::Ordering;
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let held = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&held);
        let hook = move |_: &mut loggerflow_layer::Report| {
            if seen.fetch_add(1, Ordering::SeqCst) == 0
                && let Ok(gate) = gate.lock()
            {
                let _ = gate.recv_timeout(Duration::from_secs(10));
            }
            true
        };
        (Self { held, release }, hook)
    }

    /// Waits until the worker is held (10 s at most).
    pub fn wait_until_held(&self) {
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while self.held.load(std::sync::atomic::Ordering::SeqCst) == 0
            && std::time::Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Lets the worker go on.
    pub fn release(&self) {
        let _ = self.release.send(());
    }
}
pub mod http;
