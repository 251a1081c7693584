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
pub mod http;
