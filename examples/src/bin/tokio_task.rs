//! A tokio task whose failure or panic is captured (the model's Celery
//! `task_failure` example): the supervisor that awaits the task hands the
//! error, or the panic payload, to LoggerFlow.
//!
//! Run with: `cargo run -p loggerflow-examples --bin tokio_task`

use loggerflow_layer::sink::FileSink;
use loggerflow_layer::{LoggerFlowLayer, TraceMode};
use tracing_subscriber::prelude::*;

async fn send_newsletter(batch: u32) -> anyhow::Result<()> {
    match batch {
        1 => Err(anyhow::anyhow!("the mail relay refused batch {batch}")),
        2 => panic!("batch {batch} has no recipients"),
        _ => Ok(()),
    }
}

#[tokio::main]
async fn main() {
    let path = std::env::var("LOGGERFLOW_EXAMPLE_LOG").unwrap_or_else(|_| "test.log".into());
    let layer = LoggerFlowLayer::builder("Tasks")
        .sink(FileSink::new(&path))
        .trace_mode(TraceMode::Clean)
        .build();
    let handle = layer.handle();
    tracing_subscriber::registry().with(layer).init();

    let tasks: Vec<_> = (0..3)
        .map(|batch| (batch, tokio::spawn(send_newsletter(batch))))
        .collect();
    for (batch, task) in tasks {
        match task.await {
            Ok(Ok(())) => println!("batch {batch} sent"),
            Ok(Err(error)) => {
                let id = handle.capture_error(error.as_ref() as &dyn std::error::Error);
                println!("batch {batch} failed, reported as {id:?}");
            }
            Err(join) if join.is_panic() => {
                // the panic hook reported it already: this returns that report's id
                let id = handle.capture_panic(&*join.into_panic());
                println!("batch {batch} panicked, reported as {id:?}");
            }
            Err(join) => println!("batch {batch} was cancelled: {join}"),
        }
    }
    handle.shutdown(std::time::Duration::from_secs(5)).await;
}
