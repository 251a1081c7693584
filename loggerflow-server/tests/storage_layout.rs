//! Reports stored by an older server (text ids, JSON payloads) are moved to
//! the compact layout (16-byte ids, zstd bodies) at the first start of a
//! newer one, and read back the same, on SQLite and PostgreSQL.

mod common;

use common::{BACKENDS, Db, Server};
use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::MigratorTrait;

#[tokio::test]
async fn reports_of_the_text_layout_are_moved_and_read_back_the_same() {
    for backend in BACKENDS {
        let db = Db::new(backend).await;
        let old = sea_orm::Database::connect(&db.url).await.expect("connect");
        // the schema as the server before the compact layout left it
        loggerflow_server::store::migration::Migrator::up(&old, Some(10))
            .await
            .expect("older migrations");
        let b = old.get_database_backend();
        let exec = |sql: &str| Statement::from_string(b, sql.to_owned());
        old.execute_raw(exec(
            "INSERT INTO projects (name, created_ms, hidden) VALUES ('legacy', 0, FALSE)",
        ))
        .await
        .expect("project");
        old.execute_raw(exec(
            "INSERT INTO error_groups (project_id, fingerprint, title, title_folded, count, pruned, \
             first_seen_ms, last_seen_ms, state, regressed) \
             SELECT id, 'fp', 'payment failed', 'payment failed', 2, 0, 1000, 2000, 'open', FALSE \
             FROM projects WHERE name = 'legacy'",
        ))
        .await
        .expect("group");
        let ids = [
            "0191f3c0-7a0b-7c4e-8d1e-2f3a4b5c6d7e",
            "0191f3c0-7a0b-7c4e-8d1e-2f3a4b5c6d7f",
        ];
        for (n, id) in ids.iter().enumerate() {
            let payload = serde_json::json!({
                "id": id, "project": "legacy", "timestamp": "2026-11-29T10:00:00Z",
                "level": "ERROR", "kind": "event", "message": format!("payment {n} failed"),
                "target": "shop::pay", "module": "shop::pay", "file": "src/pay.rs", "line": 10,
                "thread": "main", "host": "h",
                "frames": [{"function": "shop::pay::charge", "file": "src/pay.rs", "line": 10, "yours": true}]
            });
            old.execute_raw(Statement::from_sql_and_values(
                b,
                "INSERT INTO reports (id, project_id, group_id, instance_id, ts_ms, level, kind, title, payload) \
                 SELECT $1, project_id, id, NULL, $2, 'ERROR', 'event', 'payment failed', $3 \
                 FROM error_groups WHERE fingerprint = 'fp'",
                [
                    (*id).into(),
                    (1000 * (n as i64 + 1)).into(),
                    payload.to_string().into(),
                ],
            ))
            .await
            .expect("an old report");
        }
        old.close().await.ok();

        // reports of 1970: kept (no age retention) for the test
        let server = Server::start(&db.url, &["--report-retention-days", "0"]);
        let listed = server.get("/api/v1/projects/legacy/reports").await;
        let reports = listed["reports"].as_array().expect("reports");
        assert_eq!(reports.len(), 2, "{backend:?}: {listed}");
        // newest first, the same ids and content as stored before
        assert_eq!(reports[0]["report"]["id"], ids[1]);
        assert_eq!(reports[0]["report"]["message"], "payment 1 failed");
        assert_eq!(reports[1]["report"]["id"], ids[0]);
        assert_eq!(reports[0]["cursor"], format!("2000:{}", ids[1]));
        // the cursor pages on
        let cursor = reports[0]["cursor"].as_str().expect("cursor");
        let next = server
            .get(&format!("/api/v1/projects/legacy/reports?before={cursor}"))
            .await;
        assert_eq!(next["reports"][0]["report"]["id"], ids[0], "{next}");
        // the report page reads it, and links the older one
        let page = common::FormClient::new(&server).await;
        let (status, html) = page
            .get(&format!("/projects/legacy/reports/{}", ids[1]))
            .await;
        assert_eq!(status, 200, "{html}");
        assert!(
            html.contains("payment 1 failed") && html.contains(ids[0]),
            "{html}"
        );
        // an id that is not one is a 404, a cursor that is not one a 400
        let (status, _) = page.get("/projects/legacy/reports/not-an-id").await;
        assert_eq!(status, 404);
        let response = reqwest::get(server.url("/api/v1/projects/legacy/reports?before=1:zz"))
            .await
            .expect("GET");
        assert_eq!(response.status(), 400);
        // new reports go in beside them
        let id = common::new_id();
        let (status, body) = server
            .post(
                "/loggerflow/v1/batch",
                &common::batch(
                    "legacy-app",
                    serde_json::json!([
                        common::hello("legacy", "legacy-app", 30, "webhook"),
                        common::report("legacy", &id, 7)
                    ]),
                ),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let store = sea_orm::Database::connect(&db.url).await.expect("connect");
        let stored = common::stored_ids(&store).await;
        assert!(stored.contains(&id) && stored.contains(ids[0]) && stored.contains(ids[1]));
        store.close().await.ok();
    }
}
