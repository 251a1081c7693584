//! A database that cannot take writes is answered like one that is down:
//! 503 with `Retry-After`, nothing acknowledged that is not stored, and
//! writes go on by themselves once it can take them again (no restart).
//!
//! - SQLite on a real full filesystem: a tmpfs of 24 MB mounted by the test
//!   (the tests run as root, as `.ci/run` does on this machine's kind).
//! - PostgreSQL turned read-only (`default_transaction_read_only`, reloaded
//!   into the server's open connections), then writable again.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Backend, Db, Server, batch, hello};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(megabytes: u32) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("small");
        std::fs::create_dir(&path).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "could not mount a tmpfs (the disk-full test mounts one: run the tests as root)"
        );
        Self { path, _dir: dir }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// A report message of its own (one group per test), `pad` bytes of
/// message besides.
fn report(id: &str, n: usize, pad: usize) -> serde_json::Value {
    let mut message = common::report("disk", id, u32::try_from(n).unwrap_or(0));
    message["report"]["message"] = format!("payment {n} failed: {}", "x".repeat(pad)).into();
    message
}

/// Posts one batch of `count` new reports of ~`pad` bytes: the HTTP status,
/// `Retry-After`, the refusal's code, and the ids sent.
async fn post_batch(
    client: &reqwest::Client,
    batch_url: &str,
    n: usize,
    count: usize,
    pad: usize,
) -> (u16, Option<String>, String, Vec<String>) {
    let ids: Vec<String> = (0..count).map(|_| common::new_id()).collect();
    let messages: Vec<serde_json::Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| report(id, n * count + i, pad))
        .collect();
    let response = client
        .post(batch_url)
        .header("content-type", "application/json")
        .body(batch("disk-app", messages.into()))
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let code = body["error"].as_str().unwrap_or_default().to_owned();
    (status, retry, code, ids)
}

async fn say_hello(server: &Server) {
    let (status, _) = server
        .post(
            "/loggerflow/v1/batch",
            &batch(
                "disk-app",
                serde_json::json!([hello("disk", "disk-app", 30, "webhook")]),
            ),
        )
        .await;
    assert_eq!(status, 200);
}

/// Sends `messages` again until they are stored (at most 15 s).
async fn resend_until_stored(server: &Server, messages: Vec<serde_json::Value>, why: &str) {
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = server
            .post(
                "/loggerflow/v1/batch",
                &batch("disk-app", messages.clone().into()),
            )
            .await;
        if status == 200 {
            return;
        }
        assert!(Instant::now() < until, "{why}: {status}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn stored_ids(url: &str) -> HashSet<String> {
    let db = sea_orm::Database::connect(url).await.expect("connect");
    let ids = common::stored_ids(&db).await;
    db.close().await.ok();
    ids
}

fn file_of(path: &Path, megabytes: usize) {
    std::fs::write(path, vec![0x5a_u8; megabytes * 1024 * 1024]).expect("write filler");
}

#[tokio::test]
async fn a_full_disk_is_answered_503_loses_nothing_acknowledged_and_recovers() {
    let disk = Tmpfs::mount(24);
    let filler = disk.path.join("filler");
    file_of(&filler, 6);
    let url = format!("sqlite://{}?mode=rwc", disk.path.join("lf.db").display());
    let server = Server::start(&url, &[]);
    let client = reqwest::Client::new();
    say_hello(&server).await;
    // fill the disk from 4 clients at once with batches of 300 reports of
    // ~2 KB: the writer's transactions (several batches) outgrow SQLite's
    // page cache, so the disk fills in the middle of a transaction, not only
    // at its commit. Every batch is acknowledged whole or refused whole
    let senders: Vec<_> = (0..4)
        .map(|client_no| {
            let client = client.clone();
            let batch_url = server.url("/loggerflow/v1/batch");
            async move {
                // each acknowledged batch: (client, n, ids)
                let mut acked = Vec::new();
                for n in 0..200 {
                    let (status, retry, code, ids) =
                        post_batch(&client, &batch_url, client_no * 1000 + n, 300, 2000).await;
                    match status {
                        200 => acked.push((client_no, n, ids)),
                        _ => return (acked, Some((status, retry, code, ids))),
                    }
                }
                (acked, None)
            }
        })
        .collect();
    let mut acked: HashSet<String> = HashSet::new();
    let mut batches = Vec::new();
    let mut refusals = Vec::new();
    for (sent, refusal) in futures_util::future::join_all(senders).await {
        for (client_no, n, ids) in sent {
            acked.extend(ids.iter().cloned());
            batches.push((client_no, n, ids));
        }
        refusals.extend(refusal);
    }
    assert_eq!(
        refusals.len(),
        4,
        "the 24 MB disk filled up for every client"
    );
    for (status, retry, code, _) in &refusals {
        assert_eq!(
            (*status, code.as_str(), retry.as_deref()),
            (503, "storage_unavailable", Some("5")),
            "a full disk is a 503 that says when to try again"
        );
    }
    assert!(
        acked.len() >= 3000,
        "{} reports stored before the disk filled",
        acked.len()
    );
    let refused_ids = refusals.swap_remove(0).3;
    // the server is alive, and reads still work on a full disk
    let health: serde_json::Value = client
        .get(server.url("/api/v1/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("health JSON");
    assert_eq!(health["database"], "ok", "{health}");
    // space returns: the refused batch, sent again, is stored, with no restart
    std::fs::remove_file(&filler).expect("free the space");
    let messages: Vec<serde_json::Value> = refused_ids
        .iter()
        .enumerate()
        .map(|(i, id)| report(id, 500_000 + i, 2000))
        .collect();
    resend_until_stored(
        &server,
        messages,
        "writes did not resume once space returned",
    )
    .await;
    let resent: HashSet<String> = refused_ids.iter().cloned().collect();
    acked.extend(refused_ids);
    let stored = stored_ids(&url).await;
    let lost: HashSet<&String> = acked.difference(&stored).collect();
    // on a failure, which batches: (client, n, how many lost, of how many
    // that client had acknowledged), and whether the resent one
    let where_lost: Vec<(usize, usize, usize, usize)> = batches
        .iter()
        .filter_map(|(client_no, n, ids)| {
            let missing = ids.iter().filter(|id| lost.contains(id)).count();
            let of = batches.iter().filter(|b| b.0 == *client_no).count();
            (missing > 0).then_some((*client_no, *n, missing, of))
        })
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged reports are not stored: acknowledged batches (client, n, lost, \
         batches the client had acknowledged) {where_lost:?}; {} of the batch resent after \
         space returned",
        lost.len(),
        lost.iter().filter(|id| resent.contains(**id)).count()
    );
    assert_eq!(
        stored.len(),
        acked.len(),
        "no report stored that was not acknowledged"
    );
}

/// Restores PostgreSQL's default (writable) even if the test fails.
struct ReadOnly;

impl ReadOnly {
    fn set(on: bool) {
        let statement = if on {
            "ALTER SYSTEM SET default_transaction_read_only = on"
        } else {
            "ALTER SYSTEM RESET default_transaction_read_only"
        };
        let status = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q"])
            .args(["-c", statement, "-c", "SELECT pg_reload_conf()"])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run psql");
        assert!(status.success(), "psql {statement}");
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        Self::set(false);
    }
}

#[tokio::test]
async fn a_read_only_postgresql_is_answered_503_and_writes_resume_when_it_is_writable() {
    let db = Db::new(Backend::Postgres).await;
    let server = Server::start(&db.url, &[]);
    let client = reqwest::Client::new();
    let batch_url = server.url("/loggerflow/v1/batch");
    say_hello(&server).await;
    let (status, _, _, first) = post_batch(&client, &batch_url, 0, 100, 0).await;
    assert_eq!(status, 200);
    let guard = ReadOnly;
    ReadOnly::set(true);
    // the reload reaches the server's connections at their next statement
    let until = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let (status, retry, code, ids) = post_batch(&client, &batch_url, 1, 100, 0).await;
        match status {
            503 => {
                assert_eq!(code, "storage_unavailable");
                assert_eq!(retry.as_deref(), Some("5"));
                break ids;
            }
            200 => {
                assert!(
                    Instant::now() < until,
                    "the database never turned read-only"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("a read-only database must be a 503, got {other} {code}"),
        }
    };
    drop(guard);
    let messages: Vec<serde_json::Value> = refused
        .iter()
        .enumerate()
        .map(|(i, id)| report(id, 9_000 + i, 0))
        .collect();
    resend_until_stored(&server, messages, "writes did not resume").await;
    let stored = stored_ids(&db.url).await;
    for id in first.iter().chain(&refused) {
        assert!(stored.contains(id), "report {id} is not stored");
    }
}
