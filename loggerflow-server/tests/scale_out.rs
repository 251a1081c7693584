//! Several servers, one PostgreSQL: a change made through one server is
//! seen by the others on their next request (issue 15; this file grows
//! with it).

mod common;

use std::time::Duration;

use common::{Backend, Db, FormClient, Server, project};
use loggerflow_layer::LoggerFlowLayer;
use loggerflow_layer::lifecycle::WebhookLifecycle;
use tracing_subscriber::prelude::*;

/// A project deleted through server A while an app sends through server B:
/// B's next reports create it anew, every one of them stored (B's writer
/// had kept the deleted project's id and stored them under it, invisible).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_deleted_through_one_server_comes_back_through_the_other() {
    let db = Db::new(Backend::Postgres).await;
    let a = Server::start(&db.url, &[]);
    let b = Server::start(&db.url, &[]);
    let name = "Gone";
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder(name)
        .sink(
            WebhookLifecycle::new(format!("{}/loggerflow/", b.base))
                .heartbeat(Duration::from_secs(1)),
        )
        .capture_panics(false)
        .build();
    let handle = layer.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("before the deletion"));
    assert!(handle.flush_async(Duration::from_secs(10)).await);
    let seen = a.get("/api/v1/projects").await;
    assert_eq!(
        project(&seen, name).map(|p| p["error_count"].clone()),
        Some(1.into()),
        "A sees what B stored: {seen}"
    );

    let browser = FormClient::new(&a).await;
    let deleted = browser
        .post(&format!("/projects/{name}/delete"), "confirm=yes")
        .await;
    assert_eq!(deleted.status().as_u16(), 303);
    assert!(project(&a.get("/api/v1/projects").await, name).is_none());

    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..3 {
            tracing::error!(i, "after the deletion {i}");
        }
    });
    assert!(
        handle.flush_async(Duration::from_secs(10)).await,
        "every report after the deletion acknowledged"
    );
    for server in [&a, &b] {
        let projects = server.get("/api/v1/projects").await;
        assert_eq!(
            project(&projects, name).map(|p| p["error_count"].clone()),
            Some(3.into()),
            "the project is back with the 3 reports: {projects}"
        );
    }
}
